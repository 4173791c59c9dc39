"""The messenger: pushes prepared messages over a pool of reused SMTP connections.

It knows nothing of issues, lists or templates: it takes an `OutgoingMessage`
(envelope + bytes) and returns the server's reply, or raises a named error that
says whether trying again later can help (4xx, connection loss, timeout) or not
(5xx). Connections are opened lazily, reused for up to `messages_per_connection`
messages, and replaced when a server drops or confuses one.
"""

from __future__ import annotations

import asyncio
import ssl
from types import TracebackType

import aiosmtplib

from newsletter.config import SMTPSettings
from newsletter.delivery.ratelimit import RateLimiter
from newsletter.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from newsletter.models import OutgoingMessage


def _classify(code: int, text: str, where: str) -> DeliveryError:
    """5xx is permanent; 4xx, no code at all (lost connection, timeout) is temporary."""
    message = f"{code} {text}".strip() if code else text
    if 500 <= code < 600:
        return PermanentDeliveryError(message, code=code, where=where)
    return TemporaryDeliveryError(message, code=code, where=where)


class _Connection:
    """One SMTP session, reused for several messages."""

    def __init__(self, settings: SMTPSettings, tls_context: ssl.SSLContext | None) -> None:
        password = settings.password.get_secret_value() if settings.password else None
        self.client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            timeout=settings.timeout,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            username=settings.username or None,
            password=password if settings.username else None,
            tls_context=tls_context,
        )
        self.used = 0

    async def deliver(self, message: OutgoingMessage) -> str:
        if not self.client.is_connected:
            await self.client.connect()
        self.used += 1
        _errors, reply = await self.client.sendmail(
            message.sender, [message.recipient], message.data
        )
        return reply

    @property
    def usable(self) -> bool:
        return self.client.is_connected

    async def close(self) -> None:
        if not self.client.is_connected:
            return
        try:
            await asyncio.wait_for(self.client.quit(), timeout=2)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self.client.close()


def _error(exc: Exception, where: str) -> DeliveryError:
    """The named error for what aiosmtplib raised, with the server's code when there is one."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients[0]
        return _classify(refused.code, refused.message, where)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _classify(exc.code, exc.message, where)
    return _classify(0, f"{type(exc).__name__}: {exc}", where)


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

    async def __aenter__(self) -> Messenger:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(self, message: OutgoingMessage) -> str:
        """Deliver one message; the server's reply, or Temporary/PermanentDeliveryError."""
        async with self._slots:
            await self.limiter.wait()
            connection = self._idle.pop() if self._idle else self._new()
            try:
                reply = await connection.deliver(message)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                error = _error(exc, self.where)
                # A reply to one command leaves the session usable (aiosmtplib sent RSET);
                # a timeout, a drop or a 421 leaves it in an unknown state.
                await self._release(connection, healthy=error.code not in (0, 421))
                raise error from exc
            await self._release(connection, healthy=True)
            return reply

    def _new(self) -> _Connection:
        connection = _Connection(self.settings, self._tls_context)
        self._open.add(connection)
        return connection

    async def _release(self, connection: _Connection, *, healthy: bool) -> None:
        """Back to the pool while healthy and not worn out; closed otherwise."""
        fresh = connection.used < self.settings.messages_per_connection
        if healthy and fresh and connection.usable:
            self._idle.append(connection)
            return
        self._open.discard(connection)
        await connection.close()

    async def close(self) -> None:
        """Say QUIT on every open connection."""
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
