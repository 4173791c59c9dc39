"""One SMTP session: the commands and replies of delivering messages over one connection.

It speaks the protocol (EHLO, STARTTLS, AUTH PLAIN, pipelined MAIL/RCPT/DATA,
dot-stuffing) and turns replies into named errors: 5xx is permanent, 4xx and
everything below the replies (a drop, a timeout) temporary. Which session a
message uses, how many there are and how fast they go is `smtp.Messenger`'s job.
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
import socket
import ssl
from collections.abc import Awaitable, Callable

from newsletter.config import SMTPSettings
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


class GateFailed(Exception):
    """Carries what a `before_accept` gate raised past the handling of SMTP failures."""


def classify(code: int, text: str, where: str) -> DeliveryError:
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


class Session:
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
            raise classify(code, " ".join(lines), self.where)
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
            raise classify(code, " ".join(lines), self.where)
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
                raise GateFailed from exc
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
            raise classify(code, " ".join(lines), self.where)

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
