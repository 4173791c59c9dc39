"""The embedded SMTP sink: aiosmtpd on 127.0.0.1 writing every message into a Maildir.

For the demo and the tests, never for throughput (aiosmtpd tops out near a
thousand messages a second). `SMTPThread` runs any aiosmtpd handler on its own
event loop in a thread, on a given or an ephemeral port (bound before the
thread starts, so the port is known and there is no race); `MaildirSink` is the
handler the demo and `newsletter devsmtp` use. A message for several recipients
is stored once per recipient, with Return-Path and Delivered-To on top, the way
a real mail store would.
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from newsletter.maildir import mark_seen

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


Inbound = Callable[[bytes, Sequence[str]], bool]


def _ignore(_data: bytes, _recipients: Sequence[str]) -> bool:
    return False


class MaildirSink:
    """aiosmtpd handler: accept everything, file it in a Maildir.

    `inbound` may act on a message (an unsubscribe request, a bounce report for
    the instance's own addresses); what it acted on is filed as already seen, so
    a later `newsletter bounces process` or `unsubscribes process` skips it.
    """

    def __init__(self, maildir: Path, inbound: Inbound = _ignore) -> None:
        self.path = maildir
        for sub in ("tmp", "new", "cur"):  # Maildir(create=True) skips an existing empty folder
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        self.box = mailbox.Maildir(str(maildir), create=False)
        self.inbound = inbound

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        sender = envelope.mail_from or ""
        handled = self.inbound(data, list(envelope.rcpt_tos))
        for recipient in envelope.rcpt_tos:
            trace = f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode()
            stored = mailbox.MaildirMessage(trace + data)
            if handled:
                mark_seen(stored)
            self.box.add(stored)
        log.info("stored message from %s for %d recipient(s)", sender, len(envelope.rcpt_tos))
        return "250 2.0.0 stored"


class SMTPThread:
    """An aiosmtpd server on its own loop in a daemon thread; use as a context manager."""

    def __init__(
        self,
        handler: object,
        host: str = LOOPBACK,
        port: int = 0,
        smtp_class: type[SMTP] = SMTP,
        **smtp: Any,
    ) -> None:
        self.handler = handler
        self.smtp_class = smtp_class
        self.host = host
        self._smtp = {"hostname": "devsmtp.localhost", "ident": "newsletter devsmtp", **smtp}
        self._socket = socket.create_server((host, port), reuse_port=False)
        self.port: int = self._socket.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"smtp:{self.port}", daemon=True)
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()

    def _factory(self) -> SMTP:
        return self.smtp_class(self.handler, loop=self._loop, **self._smtp)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            self._loop.create_server(self._factory, sock=self._socket)
        )
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    def start(self) -> SMTPThread:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError(f"SMTP server on port {self.port} did not start")
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self) -> SMTPThread:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def sink(
    maildir: Path, port: int = 0, host: str = LOOPBACK, inbound: Inbound = _ignore
) -> SMTPThread:
    """A Maildir sink ready to start (`with sink(dir) as server: server.port`)."""
    return SMTPThread(MaildirSink(maildir, inbound), host=host, port=port)


def serve(maildir: Path, port: int, host: str = LOOPBACK, inbound: Inbound = _ignore) -> None:
    """Run a sink until interrupted (the `newsletter devsmtp` command)."""
    with sink(maildir, port=port, host=host, inbound=inbound):
        threading.Event().wait()
