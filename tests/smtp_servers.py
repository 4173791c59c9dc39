"""SMTP servers for delivery tests: a counting sink and a faulty one, on 127.0.0.1.

Both run on `newsletter.devsmtp.SMTPThread` (their own loop, an ephemeral port).
The faulty handler answers per recipient address from a script of replies, so a
test says exactly which address meets which fault and how often.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, Envelope, Session

from newsletter.devsmtp import SMTPThread

OK = "250 2.0.0 accepted"


class Counting:
    """Accepts everything and counts messages per recipient (thread-safe reads).

    `pause` seconds per message make a run slow enough to be killed in the middle.
    """

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()
        self.messages: list[tuple[str, str, bytes]] = []
        self.peers: set[object] = set()

    def accept(self, envelope: Envelope) -> None:
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.received[recipient] += 1
                self.messages.append((envelope.mail_from or "", recipient, envelope.content))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.pause:
            await asyncio.sleep(self.pause)
        self.accept(envelope)
        with self.lock:
            self.peers.add(session.peer)
        return OK

    def total(self) -> int:
        with self.lock:
            return sum(self.received.values())


@dataclass
class Script:
    """Replies for one address: `at` is RCPT or DATA; the first `times` tries get `reply`."""

    at: str
    reply: str
    times: int = 1_000_000


@dataclass
class Faulty(Counting):
    """A sink that misbehaves for chosen addresses: codes at RCPT/DATA, drops, stalls."""

    scripts: dict[str, Script] = field(default_factory=dict)
    tries: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        Counting.__init__(self)

    def _scripted(self, address: str, at: str) -> Script | None:
        script = self.scripts.get(address)
        if script is None or script.at != at or self.tries[(address, at)] >= script.times:
            return None
        self.tries[(address, at)] += 1
        return script

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        script = self._scripted(address, "RCPT")
        if script is not None:
            return script.reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        for address in envelope.rcpt_tos:
            script = self._scripted(address, "DATA")
            if script is None:
                continue
            if script.reply == "drop":
                server.transport.close()
                return "421 closing"
            if script.reply.startswith("stall"):
                await asyncio.sleep(float(script.reply.split()[1]))
                return "451 4.4.2 too slow, not accepted"
            return script.reply
        self.accept(envelope)
        return OK


class RefuseAtConnect(SMTP):
    """A server that greets with 421 and hangs up, like a relay at its connection limit."""

    async def _handle_client(self) -> None:
        await self.push("421 4.3.2 too many connections, try later")
        self.transport.close()


def faulty(scripts: Iterable[tuple[str, Script]] = ()) -> tuple[SMTPThread, Faulty]:
    handler = Faulty(scripts=dict(scripts))
    return SMTPThread(handler), handler


def counting(pause: float = 0.0) -> tuple[SMTPThread, Counting]:
    handler = Counting(pause)
    return SMTPThread(handler), handler
