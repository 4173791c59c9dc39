"""The messenger: pushes prepared messages over a pool of reused SMTP connections.

It knows nothing of issues, lists or templates: it takes an `OutgoingMessage`
(envelope + bytes with CRLF line ends) and returns the server's reply, or raises
a named error that says whether trying again later can help (4xx, connection
loss, timeout) or not (5xx). Connections are opened lazily, reused for up to
`messages_per_connection` messages, and replaced when a server drops or
confuses one.
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from types import TracebackType

from newsletter.config import SMTPSettings
from newsletter.delivery.ratelimit import RateLimiter
from newsletter.delivery.wire import Reply, Wire
from newsletter.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from newsletter.models import OutgoingMessage

END_OF_DATA = b".\r\n"
LINE_STARTING_WITH_DOT = re.compile(rb"\n\.")
NOT_IN_ENVELOPE = re.compile("[\r\n<> \x00]")
# Awaited before a message's data goes out: see `Messenger.send`.
Gate = Callable[[], Awaitable[None]]
# Named in EHLO; the host name, not a DNS lookup per connection.
LOCAL_NAME = (socket.gethostname() or "localhost").encode("idna")


class _GateFailed(Exception):
    """Carries what a `before_accept` gate raised past the handling of SMTP failures."""


def _classify(code: int, text: str, where: str) -> DeliveryError:
    """5xx is permanent; 4xx, no code at all (lost connection, timeout) is temporary."""
    message = f"{code} {text}".strip() if code else text
    if 500 <= code < 600:
        return PermanentDeliveryError(message, code=code, where=where)
    return TemporaryDeliveryError(message, code=code, where=where)


def _envelope_address(address: str, where: str) -> bytes:
    if not address or NOT_IN_ENVELOPE.search(address):
        raise PermanentDeliveryError(f"unusable envelope address {address[:80]!r}", where=where)
    return address.encode("ascii", "strict")


def _stuffed(data: bytes) -> bytes:
    """DATA payload without its final dot: dots doubled at line starts, CRLF at the end.

    A message with no line starting with a dot (ours never has one, see `mime.qp`) is
    only scanned, by a regex: three times faster here than `in`, and `bytes.replace`
    costs eight times the scan even when nothing matches.
    """
    body = data
    if LINE_STARTING_WITH_DOT.search(body):  # a bare LF too, which some servers end lines at
        body = LINE_STARTING_WITH_DOT.sub(b"\n..", body)
    if body.startswith(b"."):
        body = b"." + body
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body


class _Connection:
    """One SMTP session, reused for several messages.

    When the server offers PIPELINING (RFC 2920) the envelope goes out as one
    write (MAIL, RCPT, DATA), and when the caller names its next message, that
    envelope goes out behind this message's data: a message then costs one
    write and one round trip.
    """

    def __init__(self, settings: SMTPSettings, tls_context: ssl.SSLContext | None) -> None:
        self.settings = settings
        self.where = f"smtp://{settings.host}:{settings.port}"
        self.tls_context = tls_context
        self.wire: Wire | None = None
        self.pipelining = False
        self.used = 0
        self.deadline = math.inf  # loop time by which the current delivery must be done
        self.announced: OutgoingMessage | None = None  # its envelope is already on the wire
        self.timed_out = False

    async def _reply(self) -> Reply:
        assert self.wire is not None
        return await self.wire.reply()

    async def _expect(self, *ok: int) -> str:
        code, lines = await self._reply()
        if code not in ok:
            raise _classify(code, " ".join(lines), self.where)
        return " ".join(lines)

    async def _command(self, line: bytes, *ok: int) -> str:
        assert self.wire is not None
        self.wire.write(line + b"\r\n")
        return await self._expect(*ok)

    async def _ehlo(self) -> set[str]:
        assert self.wire is not None
        self.wire.write(b"EHLO " + LOCAL_NAME + b"\r\n")
        code, lines = await self._reply()
        if code != 250:
            raise _classify(code, " ".join(lines), self.where)
        return {line.split(" ")[0].upper() for line in lines[1:]}

    async def open(self) -> None:
        secure = self.settings.security != "none"
        tls = (self.tls_context or ssl.create_default_context()) if secure else None
        implicit = self.settings.security == "tls"
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.settings.timeout):  # no transport to abort yet
            _, self.wire = await loop.create_connection(
                Wire, self.settings.host, self.settings.port, ssl=tls if implicit else None
            )
        await self._expect(220)
        features = await self._ehlo()
        if self.settings.security == "starttls":
            if "STARTTLS" not in features:
                raise TemporaryDeliveryError("server does not offer STARTTLS", where=self.where)
            await self._command(b"STARTTLS", 220)
            assert tls is not None and self.wire.transport is not None
            self.wire.transport = await loop.start_tls(
                self.wire.transport, self.wire, tls, server_hostname=self.settings.host
            )
            features = await self._ehlo()
        if self.settings.username:
            await self._login()
        self.pipelining = "PIPELINING" in features

    async def _login(self) -> None:
        secret = self.settings.password.get_secret_value() if self.settings.password else ""
        token = base64.b64encode(f"\0{self.settings.username}\0{secret}".encode())
        await self._command(b"AUTH PLAIN " + token, 235)

    async def deliver(
        self,
        message: OutgoingMessage,
        before_accept: Gate | None = None,
        then: OutgoingMessage | None = None,
    ) -> str:
        """One message; the Messenger's watchdog cuts the session if it outlives its deadline."""
        self.deadline = asyncio.get_running_loop().time() + self.settings.timeout
        try:
            return await self._deliver(message, before_accept, then)
        except (ConnectionError, OSError) as exc:
            if self.timed_out:
                raise TimeoutError(f"no reply within {self.settings.timeout:g} s") from exc
            raise
        finally:
            self.deadline = math.inf

    async def _deliver(
        self, message: OutgoingMessage, before_accept: Gate | None, then: OutgoingMessage | None
    ) -> str:
        if self.wire is None:
            await self.open()
        wire = self.wire
        assert wire is not None
        self.used += 1
        announced, self.announced = self.announced is message, None
        if not self.pipelining:
            replies = await self._stepwise(self._envelope(message))
        else:
            if not announced:
                wire.write(b"\r\n".join(self._envelope(message)) + b"\r\n")
            replies = [await wire.reply(), await wire.reply(), await wire.reply()]
        if [code for code, _ in replies] != [250, 250, 354]:
            await self._refused(replies)
        if before_accept is not None:
            try:
                await before_accept()
            except Exception as exc:  # not the server's doing: never a delivery error
                raise _GateFailed from exc
        data = (message.data if message.dot_free else _stuffed(message.data)) + END_OF_DATA
        wire.write(data + self._announce(then))
        await wire.drain()
        return await self._expect(250)

    def _envelope(self, message: OutgoingMessage) -> list[bytes]:
        return [
            b"MAIL FROM:<" + _envelope_address(message.sender, self.where) + b">",
            b"RCPT TO:<" + _envelope_address(message.recipient, self.where) + b">",
            b"DATA",
        ]

    def _announce(self, then: OutgoingMessage | None) -> bytes:
        """The next message's envelope, to ride behind this one's data (RFC 2920 allows
        commands after the data in one group): its replies come back with this message's,
        which saves a round trip per message. Only while the session will be reused."""
        if then is None or not self.pipelining:
            return b""
        if self.used + 1 >= self.settings.messages_per_connection:
            return b""
        try:
            envelope = self._envelope(then)
        except DeliveryError:  # its own send reports that
            return b""
        self.announced = then
        return b"\r\n".join(envelope) + b"\r\n"

    async def _stepwise(self, envelope: list[bytes]) -> list[Reply]:
        """Without PIPELINING: one command at a time, stopping at the first refusal."""
        assert self.wire is not None
        replies = []
        for command, ok in zip(envelope, (250, 250, 354), strict=True):
            self.wire.write(command + b"\r\n")
            replies.append(await self._reply())
            if replies[-1][0] not in (ok, 251):
                break
        return replies

    async def _refused(self, replies: list[Reply]) -> None:
        """Raise the first refusal, leaving the session clean (RSET) for the next message."""
        for (code, lines), ok in zip(replies, ((250,), (250, 251), (354,)), strict=False):
            if code in ok:
                continue
            assert self.wire is not None
            if replies[-1][0] == 354:  # a server that took DATA anyway: end it empty
                self.wire.write(b".\r\n")
                await self._reply()
            await self._command(b"RSET", 250)
            raise _classify(code, " ".join(lines), self.where)

    @property
    def usable(self) -> bool:
        transport = self.wire.transport if self.wire else None
        return transport is not None and not transport.is_closing()

    def expire(self, now: float) -> None:
        """Cut the session if its delivery ran past the deadline (its reads then fail)."""
        if now > self.deadline and self.wire is not None and self.wire.transport is not None:
            self.timed_out = True
            self.wire.transport.abort()

    def abort(self) -> None:
        """Drop the session without a word: a QUIT sent mid-DATA would be read as text."""
        if self.wire is not None and self.wire.transport is not None:
            self.wire.transport.abort()
        self.wire = None

    async def close(self) -> None:
        if self.wire is None:
            return
        wire, self.wire = self.wire, None
        try:
            wire.write(b"QUIT\r\n")
            await asyncio.wait_for(wire.drain(), timeout=2)
        except (OSError, TimeoutError):
            pass
        if wire.transport is not None:
            wire.transport.close()


def _error(exc: Exception, where: str) -> DeliveryError:
    """A named error for what went wrong below the SMTP replies (no code: try again later)."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, ValueError):
        return TemporaryDeliveryError(f"malformed reply from the server: {exc}", where=where)
    return _classify(0, f"{type(exc).__name__}: {exc}".rstrip(": "), where)


class Messenger:
    """A pool of at most `pool_size` connections, shared by every caller, behind a rate limit."""

    def __init__(
        self,
        settings: SMTPSettings,
        *,
        limiter: RateLimiter | None = None,
        pool_size: int | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.pool_size = pool_size or settings.pool_size
        self.limiter = limiter or RateLimiter(settings.rate_per_second, settings.rate_per_hour)
        self.where = f"smtp://{settings.host}:{settings.port}"
        self._tls_context = tls_context
        self._slots = asyncio.Semaphore(self.pool_size)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._watchdog: asyncio.Task[None] | None = None
        # sessions holding the announced envelope of a message: id -> (message, session)
        self._reserved: dict[int, tuple[OutgoingMessage, _Connection]] = {}

    async def __aenter__(self) -> Messenger:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(
        self,
        message: OutgoingMessage,
        before_accept: Gate | None = None,
        then: OutgoingMessage | None = None,
    ) -> str:
        """Deliver one message; the server's reply, or Temporary/PermanentDeliveryError.

        `before_accept`, when given, is awaited after the server took the envelope
        and before the data goes out, so the server cannot accept the message
        before it returns. A sender uses it to make the previous outcome durable
        while this message's envelope is on the wire. Whatever it raises ends the
        session with this message unsent, and is raised unchanged.

        `then` names the caller's next message: its envelope goes out behind this
        one's data, and the session waits for it. The caller must then either
        send it or `forget` it.
        """
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch())
        async with self._slots:
            if self.limiter.windows:
                await self.limiter.wait()
                then = None  # an announced envelope would run ahead of the limit
            connection = self._session_for(message)
            try:
                reply = await connection.deliver(message, before_accept, then)
            except (DeliveryError, OSError, TimeoutError, ValueError) as exc:
                error = _error(exc, self.where)
                # A refusal leaves the session usable (we sent RSET);
                # a timeout, a drop or a 421 leaves it in an unknown state.
                await self._release(connection, healthy=error.code not in (0, 421))
                raise error from exc
            except BaseException as exc:  # the gate failed, or we were cancelled, maybe mid-DATA
                self._drop(connection)
                if isinstance(exc, _GateFailed) and exc.__cause__ is not None:
                    raise exc.__cause__ from None
                raise
            if connection.usable and connection.used < self.settings.messages_per_connection:
                self._keep(connection)  # the usual case, without a coroutine
            else:
                await self._release(connection, healthy=True)
            return reply

    def forget(self, message: OutgoingMessage) -> None:
        """The caller will not send the message it announced: end that session unsent."""
        entry = self._reserved.pop(id(message), None)
        if entry is not None and entry[0] is message:
            self._drop(entry[1])  # its DATA is open: a dropped session sends nothing

    def _session_for(self, message: OutgoingMessage) -> _Connection:
        entry = self._reserved.pop(id(message), None)
        if entry is not None and entry[0] is message and entry[1].usable:
            return entry[1]
        if entry is not None:
            self._drop(entry[1])
        return self._idle.pop() if self._idle else self._new()

    def _keep(self, connection: _Connection) -> None:
        """Back to the pool, or held for the message whose envelope it announced."""
        if connection.announced is not None:
            self._reserved[id(connection.announced)] = (connection.announced, connection)
        else:
            self._idle.append(connection)

    def _drop(self, connection: _Connection) -> None:
        self._open.discard(connection)
        connection.abort()

    async def _watch(self) -> None:
        """One timer for the whole pool, where a timeout per message cost a timer each:
        a delivery past its deadline has its session cut, within a quarter of the timeout."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.05, self.settings.timeout / 4))
            now = loop.time()
            for connection in list(self._open):
                connection.expire(now)

    def _new(self) -> _Connection:
        connection = _Connection(self.settings, self._tls_context)
        self._open.add(connection)
        return connection

    async def _release(self, connection: _Connection, *, healthy: bool) -> None:
        """Back to the pool while healthy and not worn out; closed otherwise."""
        fresh = connection.used < self.settings.messages_per_connection
        if healthy and fresh and connection.usable:
            self._keep(connection)
            return
        self._open.discard(connection)
        await connection.close()

    async def close(self) -> None:
        """Say QUIT on every open connection."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for _message, connection in self._reserved.values():
            self._drop(connection)  # a QUIT inside an open DATA would be read as text
        self._reserved = {}
        connections, self._open, self._idle = list(self._open), set(), []
        await asyncio.gather(*(c.close() for c in connections))


def send_one(settings: SMTPSettings, message: OutgoingMessage) -> str:
    """Send a single message from synchronous code (a CLI command, a web worker thread).

    Opens one connection, sends, says QUIT; returns the server's reply or raises
    TemporaryDeliveryError / PermanentDeliveryError. Not for use inside a running
    event loop: there, use `Messenger` directly.
    """

    async def once() -> str:
        async with Messenger(settings, pool_size=1) as messenger:
            return await messenger.send(message)

    return asyncio.run(once())
