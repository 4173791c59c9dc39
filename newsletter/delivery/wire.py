"""SMTP replies read off the socket as they arrive, and writes that respect flow control.

An asyncio Protocol rather than streams: every reply that arrives in one packet
(three for a pipelined envelope) is parsed in the callback that receives it and
handed over with a single wake-up, where `StreamReader.readline` cost a
coroutine step per line. At thousands of messages a second that difference is
a visible share of the sender's time.
"""

from __future__ import annotations

import asyncio
from collections import deque

Reply = tuple[int, list[str]]
MAX_PENDING = 64 * 1024  # bytes of an unfinished reply line before the server is cut off


class Wire(asyncio.Protocol):
    """One connection's byte stream: parsed replies out, raw commands and data in."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._replies: deque[Reply] = deque()
        self._failure: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None  # set while the kernel is full

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._buffer:  # the rest of a line that arrived cut in two
            data = bytes(self._buffer) + data
            self._buffer.clear()
        *lines, rest = data.split(b"\n")
        for line in lines:
            self._lines.append(line[4:].strip().decode("utf-8", "replace"))
            if line[3:4] != b"-":
                if not line[:3].isdigit():
                    self._fail(ValueError(f"not an SMTP reply: {line[:40]!r}"))
                    return
                self._replies.append((int(line[:3]), self._lines))
                self._lines = []
        if rest:
            self._buffer += rest
            if len(self._buffer) > MAX_PENDING:
                self._fail(ValueError("reply line longer than any SMTP server sends"))
                return
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed by the server"))
        _settle(self._writable)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        _settle(self._writable)
        self._writable = None

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("connection closed")
        self.transport.write(data)

    async def drain(self) -> None:
        """Return once the kernel takes more; a body bigger than its buffer waits here."""
        if self._writable is not None:
            await self._writable
        if self._failure is not None:
            raise self._failure

    async def reply(self) -> Reply:
        """The next whole reply (code, lines); a failure once every parsed reply is read."""
        while not self._replies:
            if self._failure is not None:
                raise self._failure
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._replies.popleft()

    def _fail(self, failure: Exception) -> None:
        if self._failure is None:
            self._failure = failure
        if self.transport is not None and not isinstance(failure, ConnectionError | OSError):
            self.transport.abort()  # a server that talks nonsense is not read any further
        self._wake()

    def _wake(self) -> None:
        _settle(self._waiter)


def _settle(future: asyncio.Future[None] | None) -> None:
    """Let whoever waits on `future` go on, if anyone still does."""
    if future is not None and not future.done():
        future.set_result(None)
