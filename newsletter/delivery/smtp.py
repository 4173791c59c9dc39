"""The messenger: pushes prepared messages over a pool of reused SMTP sessions.

It knows nothing of issues, lists or templates: it takes an `OutgoingMessage`
(envelope + bytes with CRLF line ends) and returns the server's reply, or raises
a named error that says whether trying again later can help (4xx, connection
loss, timeout) or not (5xx). Sessions (`delivery.session`) are opened lazily,
reused for up to `messages_per_connection` messages, replaced when a server
drops or confuses one, and cut by one watchdog when they outlive the timeout.
"""

from __future__ import annotations

import asyncio
import ssl
from types import TracebackType

from newsletter.config import SMTPSettings
from newsletter.delivery.ratelimit import RateLimiter
from newsletter.delivery.session import Gate, GateFailed, Session, classify
from newsletter.errors import DeliveryError, TemporaryDeliveryError
from newsletter.models import OutgoingMessage


def _error(exc: Exception, where: str) -> DeliveryError:
    """A named error for what went wrong below the SMTP replies (no code: try again later)."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, ValueError):
        return TemporaryDeliveryError(f"malformed reply from the server: {exc}", where=where)
    return classify(0, f"{type(exc).__name__}: {exc}".rstrip(": "), where)


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
        self._idle: list[Session] = []
        self._open: set[Session] = set()
        self._watchdog: asyncio.Task[None] | None = None
        # sessions holding the announced envelope of a message: id -> (message, session)
        self._reserved: dict[int, tuple[OutgoingMessage, Session]] = {}

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
                if not self._reuse(connection, healthy=error.code not in (0, 421)):
                    await self._retire(connection)
                raise error from exc
            except BaseException as exc:  # the gate failed, or we were cancelled, maybe mid-DATA
                self._drop(connection)
                if isinstance(exc, GateFailed) and exc.__cause__ is not None:
                    raise exc.__cause__ from None
                raise
            if not self._reuse(connection, healthy=True):
                await self._retire(connection)
            return reply

    def forget(self, message: OutgoingMessage) -> None:
        """The caller will not send the message it announced: end that session unsent."""
        entry = self._reserved.pop(id(message), None)
        if entry is not None and entry[0] is message:
            self._drop(entry[1])  # its DATA is open: a dropped session sends nothing

    def _session_for(self, message: OutgoingMessage) -> Session:
        entry = self._reserved.pop(id(message), None)
        if entry is not None and entry[0] is message and entry[1].usable:
            return entry[1]
        if entry is not None:
            self._drop(entry[1])
        return self._idle.pop() if self._idle else self._new()

    def _reuse(self, connection: Session, *, healthy: bool) -> bool:
        """Back to the pool (or held for the message whose envelope it announced) while
        healthy and not worn out; False when it must be closed instead."""
        if not (healthy and connection.usable):
            return False
        if connection.used >= self.settings.messages_per_connection:
            return False
        if connection.announced is not None:
            self._reserved[id(connection.announced)] = (connection.announced, connection)
        else:
            self._idle.append(connection)
        return True

    def _drop(self, connection: Session) -> None:
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

    def _new(self) -> Session:
        connection = Session(self.settings, self._tls_context)
        self._open.add(connection)
        return connection

    async def _retire(self, connection: Session) -> None:
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
