"""The messenger against real aiosmtpd servers: replies mapped to named errors, pooling, pacing."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import dkim
import pytest
from smtp_servers import Counting, RefuseAtConnect, Script, counting, faulty

from newsletter.config import DKIMSettings, SMTPSettings
from newsletter.delivery.dkim import Signer
from newsletter.delivery.mime import Address, simple_message
from newsletter.delivery.ratelimit import RateLimiter
from newsletter.delivery.smtp import Messenger, send_one
from newsletter.devsmtp import SMTPThread
from newsletter.errors import ConfigError, PermanentDeliveryError, TemporaryDeliveryError
from newsletter.models import OutgoingMessage

KEY = Path(__file__).parent / "data" / "dkim_test_key.pem"


def message(to: str = "ann@example.com") -> OutgoingMessage:
    return simple_message(Address("notes@example.org", "Notes"), Address(to), "Hi", "text")


def settings(port: int, **values: object) -> SMTPSettings:
    return SMTPSettings(port=port, timeout=1, **values)


async def send_all(smtp: SMTPSettings, messages: list[OutgoingMessage]) -> list[object]:
    async with Messenger(smtp) as messenger:
        return await asyncio.gather(*(messenger.send(m) for m in messages), return_exceptions=True)


def test_421_at_connect_is_temporary():
    server = SMTPThread(object(), smtp_class=RefuseAtConnect)
    with server, pytest.raises(TemporaryDeliveryError) as raised:
        send_one(settings(server.port), message())
    assert raised.value.code == 421


def test_replies_become_named_errors_with_their_codes():
    scripts = [
        ("a@example.com", Script("RCPT", "451 4.3.0 greylisted")),
        ("b@example.com", Script("RCPT", "550 5.1.1 no such user")),
        ("c@example.com", Script("DATA", "554 5.6.0 refused")),
    ]
    server, handler = faulty(scripts)
    with server:
        results = asyncio.run(
            send_all(settings(server.port), [message(f"{x}@example.com") for x in "abcd"])
        )
    kinds = [(type(r).__name__, getattr(r, "code", None)) for r in results]
    assert kinds[:3] == [
        ("TemporaryDeliveryError", 451),
        ("PermanentDeliveryError", 550),
        ("PermanentDeliveryError", 554),
    ]
    assert isinstance(results[3], str) and handler.received == {"d@example.com": 1}


def test_a_drop_mid_data_or_a_stall_is_temporary_and_the_next_message_reconnects():
    scripts = [
        ("drop@example.com", Script("DATA", "drop")),
        ("slow@example.com", Script("DATA", "stall 3")),
    ]
    server, handler = faulty(scripts)
    with server:
        results = asyncio.run(
            send_all(
                settings(server.port, pool_size=1),
                [message("drop@example.com"), message("slow@example.com"), message()],
            )
        )
    assert [type(r) for r in results[:2]] == [TemporaryDeliveryError] * 2
    assert results[0].code == results[1].code == 0
    assert isinstance(results[2], str) and handler.received == {"ann@example.com": 1}


def test_connections_are_pooled_and_reused_up_to_the_limit():
    server, handler = counting()
    with server:
        smtp = settings(server.port, pool_size=2, messages_per_connection=5)
        asyncio.run(send_all(smtp, [message(f"r{n}@example.com") for n in range(20)]))
    assert handler.total() == 20
    assert 4 <= len(handler.peers) <= 5


def test_rate_limits_hold_across_callers():
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    async def take(limiter: RateLimiter, count: int) -> list[float]:
        times: list[float] = []

        async def one() -> None:
            await limiter.wait()
            times.append(now[0])

        await asyncio.gather(*(one() for _ in range(count)))
        return times

    per_second = asyncio.run(take(RateLimiter(5, clock=lambda: now[0], sleep=sleep), 15))
    assert per_second[-1] >= 2.0 - 1e-9
    assert max(sum(1 for t in per_second if s <= t < s + 1) for s in per_second) <= 5
    now[0] = 0.0
    per_hour = asyncio.run(take(RateLimiter(0, 3, clock=lambda: now[0], sleep=sleep), 4))
    assert per_hour[:3] == [0.0, 0.0, 0.0] and per_hour[3] >= 3600


def test_dkim_signature_verifies_against_the_published_key():
    signer = Signer.load(DKIMSettings(selector="news"), KEY, "example.org")
    signed = signer.sign(message().data)
    record = b"v=DKIM1; k=rsa; p=" + KEY.with_suffix(".pub.b64").read_bytes().strip()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"news._domainkey.example.org." else b""

    assert signed.startswith(b"DKIM-Signature:")
    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(signed.replace(b"Subject: Hi", b"Subject: Ho"), dnsfunc=dns)


def test_an_unreadable_dkim_key_is_a_config_error(tmp_path):
    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="not a PEM private key"):
        Signer.load(DKIMSettings(), tmp_path / "key.pem", "example.org")
    with pytest.raises(ConfigError, match="cannot read DKIM key"):
        Signer.load(DKIMSettings(), tmp_path / "missing.pem", "example.org")


def test_starttls_and_auth_plain_against_a_tls_server():
    data = Path(__file__).parent / "data"
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(data / "smtp_test_tls.crt", data / "smtp_test_tls.key")
    client_tls = ssl.create_default_context(cafile=str(data / "smtp_test_tls.crt"))
    handler = Counting()
    logins: list[tuple[bytes, bytes]] = []

    def check(mechanism: str, login: bytes, password: bytes) -> bool:
        logins.append((login, password))
        return login == b"news" and password == b"s3cret"

    server = SMTPThread(
        handler,
        tls_context=server_tls,
        require_starttls=True,
        auth_require_tls=True,
        auth_callback=check,
    )
    with server:
        smtp = settings(server.port, security="starttls", username="news", password="s3cret")

        async def once() -> str:
            async with Messenger(smtp, tls_context=client_tls) as messenger:
                return await messenger.send(message())

        reply = asyncio.run(once())
    assert "accepted" in reply and handler.total() == 1
    assert logins == [(b"news", b"s3cret")]


def test_lines_starting_with_a_dot_arrive_intact_and_cannot_end_the_data_early():
    body = b"Subject: dots\r\n\r\n.hidden\r\n.\r\nMAIL FROM:<x@example.net>\r\n..two\r\nend"
    smuggled = b"Subject: bare\r\n\r\nbare\n.\r\nRCPT TO:<bcc@example.net>\r\nend"
    server, handler = counting()
    with server:
        for n, data in enumerate((body, smuggled)):
            send_one(
                settings(server.port), OutgoingMessage("a@example.org", f"{n}@example.com", data)
            )
    assert handler.received == {"0@example.com": 1, "1@example.com": 1}
    assert handler.messages[0][2] == body + b"\r\n"
    assert handler.messages[1][2].endswith(b"RCPT TO:<bcc@example.net>\r\nend\r\n")


def test_the_next_envelope_rides_behind_the_data_on_the_same_session():
    server, handler = counting()
    chain = [message(f"{x}@example.com") for x in ("ann", "bob", "cy")]

    async def main() -> None:
        async with Messenger(settings(server.port, pool_size=2)) as messenger:
            for current, upcoming in zip(chain, [*chain[1:], None], strict=True):
                await messenger.send(current, then=upcoming)

    with server:
        asyncio.run(main())
    assert handler.received == {"ann@example.com": 1, "bob@example.com": 1, "cy@example.com": 1}
    assert len(handler.peers) == 1  # one session carried all three


def test_an_announced_envelope_that_is_refused_fails_alone():
    server, handler = faulty([("bad@example.com", Script("RCPT", "550 5.1.1 no such user"))])
    first, refused, last = (message(f"{x}@example.com") for x in ("ann", "bad", "cy"))

    async def main() -> list[object]:
        async with Messenger(settings(server.port, pool_size=1)) as messenger:
            results: list[object] = [await messenger.send(first, then=refused)]
            try:
                await messenger.send(refused, then=last)
            except PermanentDeliveryError as error:  # refused at RCPT: its data never went
                results.append(error.code)
            results.append(await messenger.send(last))
            return results

    with server:
        results = asyncio.run(main())
    assert results[1] == 550 and isinstance(results[0], str) and isinstance(results[2], str)
    assert handler.received == {"ann@example.com": 1, "cy@example.com": 1}


def test_a_forgotten_announced_message_is_never_delivered():
    server, handler = counting()
    sent, dropped = message("ann@example.com"), message("bob@example.com")

    async def main() -> None:
        async with Messenger(settings(server.port, pool_size=1)) as messenger:
            await messenger.send(sent, then=dropped)
            messenger.forget(dropped)  # its DATA was open: the session ends, nothing accepted
            await messenger.send(message("cy@example.com"), then=message("dee@example.com"))
        # leaving with an announced message open must not deliver it either

    with server:
        asyncio.run(main())
        time.sleep(0.2)
    assert handler.received == {"ann@example.com": 1, "cy@example.com": 1}
