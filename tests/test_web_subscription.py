"""Subscription pages through the real web app (httpx ASGI transport) and a real SMTP sink."""

from __future__ import annotations

import asyncio
import email
import email.policy
import mailbox
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from newsletter import app as app_module
from newsletter import config, issues, pipeline
from newsletter.app import App
from newsletter.delivery.send import send_issue
from newsletter.devsmtp import SMTPThread, sink
from newsletter.models import Cadence, Subscriber, SubscriberStatus
from newsletter.store import db
from newsletter.store import subscribers as store
from newsletter.subscribers import consent, csvfile
from newsletter.tokens import Purpose, Tokens
from newsletter.web.app import create_app
from tests.smtp_servers import Counting

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CHECK_INBOX = "Check your inbox"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Site:
    app: App
    client: httpx.AsyncClient
    maildir: Path

    def messages(self) -> list[email.message.EmailMessage]:
        box = mailbox.Maildir(self.maildir, factory=None, create=False)
        return [
            email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)  # type: ignore[misc]
            for key in box.iterkeys()
        ]

    def subscriber(self, address: str) -> Subscriber | None:
        with self.app.engine.connect() as conn:
            return store.by_key(conn, address.lower())

    def token(self, purpose: Purpose, who: Subscriber) -> str:
        return self.app.tokens().make(purpose, who.id, who.email)


@pytest.fixture
def smtp_port(tmp_path: Path) -> Iterator[int]:
    with sink(tmp_path / "maildir") as server:
        yield server.port


@pytest.fixture
async def site(instance: Path, tmp_path: Path, smtp_port: int) -> AsyncIterator[Site]:
    settings = config.load(instance / "newsletter.toml", {"smtp": {"port": smtp_port}})
    built = app_module.build(settings, clock=lambda: NOW)
    db.migrate(built.engine)
    transport = httpx.ASGITransport(app=create_app(built))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Site(built, client, tmp_path / "maildir")
    built.close()


def active(site: Site, address: str, lists: tuple[str, ...] = ("weekly",)) -> Subscriber:
    """A subscriber who already confirmed, made through the same consent functions."""
    made = consent.request(site.app, address, "Known", lists, "192.0.2.1")
    assert made is not None
    return consent.confirm(site.app, site.token(Purpose.CONFIRM, made), "192.0.2.1")


def confirm_link(message: email.message.EmailMessage) -> str:
    text = message.get_body(("plain",))
    assert text is not None
    found = re.search(r"https://notes\.example\.org(/confirm/\S+)", text.get_content())
    assert found, text.get_content()
    return found.group(1)


async def test_subscribe_sends_one_confirmation_whose_link_activates(site: Site) -> None:
    form = {"email": "Zoe@Example.com", "name": "Zoë <b>", "lists": ["weekly", "ms-monthly"]}
    answer = await site.client.post("/subscribe", data=form)
    assert answer.status_code == 200 and CHECK_INBOX in answer.text
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    pending = site.subscriber("zoe@example.com")
    assert pending is not None and pending.status == SubscriberStatus.PENDING
    [message] = site.messages()
    assert message["To"].addresses[0].addr_spec == "Zoe@example.com"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert "Zoë <b>" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Zoë &lt;b&gt;" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    page = await site.client.get(confirm_link(message))
    assert page.status_code == 200 and "You are subscribed" in page.text
    confirmed = site.subscriber("zoe@example.com")
    assert confirmed is not None and confirmed.status == SubscriberStatus.ACTIVE
    assert (confirmed.confirmed_at, confirmed.confirmed_ip) == (NOW, "127.0.0.1")
    assert confirmed.lists == ("ms-monthly", "weekly")
    again = await site.client.get(confirm_link(message))
    assert again.status_code == 200 and len(site.messages()) == 1


async def test_new_known_and_trapped_addresses_get_the_same_answer(site: Site) -> None:
    active(site, "known@example.com")
    answers = [
        await site.client.post("/subscribe", data={"email": address, "lists": "weekly", **extra})
        for address, extra in [
            ("new@example.com", {}),
            ("known@example.com", {}),
            ("bot@example.com", {"website": "http://spam.example"}),
        ]
    ]
    assert {(a.status_code, a.text) for a in answers} == {(200, answers[0].text)}
    assert [m["To"].addresses[0].addr_spec for m in site.messages()] == ["new@example.com"]
    assert site.subscriber("bot@example.com") is None


async def test_sign_ups_are_rate_limited_per_client(site: Site) -> None:
    trapped = {"email": "bot@example.com", "lists": "weekly", "website": "x"}
    statuses = [(await site.client.post("/subscribe", data=trapped)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"email": "<script>x</script>", "lists": "weekly"}, "not a valid email address"),
        ({"email": "a@example.com", "lists": "no-such-list"}, "unknown list"),
        ({"email": "a@example.com"}, "choose at least one list"),
        ({"email": "a@example.com", "lists": "weekly", "name": "Bell\x07"}, "control characters"),
    ],
)
async def test_bad_sign_ups_get_400_and_store_nothing(
    site: Site, form: dict[str, str], problem: str
) -> None:
    answer = await site.client.post("/subscribe", data=form)
    assert answer.status_code == 400 and problem in answer.text.lower()
    assert "<script>x" not in answer.text
    assert site.subscriber("a@example.com") is None and site.messages() == []


async def test_unsubscribe_page_changes_nothing_and_one_click_post_sticks(site: Site) -> None:
    who = active(site, "leaving@example.com")
    token = site.token(Purpose.UNSUBSCRIBE, who)
    page = await site.client.get(f"/u/{token}")
    assert page.status_code == 200 and '<form method="post">' in page.text
    assert site.subscriber(who.email).status == SubscriberStatus.ACTIVE  # type: ignore[union-attr]
    for _ in range(2):
        done = await site.client.post(
            f"/u/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert site.subscriber(who.email).status == SubscriberStatus.UNSUBSCRIBED  # type: ignore[union-attr]


async def test_an_old_confirmation_link_cannot_undo_an_unsubscribe(site: Site) -> None:
    made = consent.request(site.app, "flip@example.com", "", ["weekly"], "192.0.2.1")
    assert made is not None
    old_confirm = Tokens(site.app.settings.signing_key(), clock=lambda: NOW - timedelta(hours=1))
    link = old_confirm.make(Purpose.CONFIRM, made.id, made.email)
    assert (
        await site.client.post(f"/u/{site.token(Purpose.UNSUBSCRIBE, made)}")
    ).status_code == 200
    assert (await site.client.get(f"/confirm/{link}")).status_code == 400
    assert site.subscriber(made.email).status == SubscriberStatus.UNSUBSCRIBED  # type: ignore[union-attr]


async def test_a_person_who_left_can_opt_in_again_by_confirming(site: Site) -> None:
    who = active(site, "back@example.com")
    await site.client.post(f"/u/{site.token(Purpose.UNSUBSCRIBE, who)}")
    await site.client.post("/subscribe", data={"email": who.email, "lists": "ms-monthly"})
    assert site.subscriber(who.email).status == SubscriberStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    [message] = site.messages()
    assert (await site.client.get(confirm_link(message))).status_code == 200
    back = site.subscriber(who.email)
    assert back is not None and (back.status, back.lists) == (
        SubscriberStatus.ACTIVE,
        ("ms-monthly",),
    )


def tampered(token: str) -> str:
    return token[:5] + ("A" if token[5] != "A" else "B") + token[6:]


@pytest.mark.parametrize(
    ("method", "path", "purpose", "spoil"),
    [
        ("GET", "/confirm", Purpose.UNSUBSCRIBE, "purpose"),
        ("GET", "/confirm", Purpose.CONFIRM, "tamper"),
        ("GET", "/confirm", Purpose.CONFIRM, "expire"),
        ("GET", "/u", Purpose.PREFERENCES, "purpose"),
        ("POST", "/u", Purpose.UNSUBSCRIBE, "tamper"),
        ("POST", "/u", Purpose.CONFIRM, "purpose"),
        ("GET", "/preferences", Purpose.UNSUBSCRIBE, "purpose"),
        ("POST", "/preferences", Purpose.PREFERENCES, "tamper"),
    ],
)
async def test_bad_tokens_get_a_400_page_and_change_nothing(
    site: Site, method: str, path: str, purpose: Purpose, spoil: str
) -> None:
    made = consent.request(site.app, "target@example.com", "", ["weekly"], "192.0.2.1")
    assert made is not None
    if spoil == "expire":
        long_ago = Tokens(site.app.settings.signing_key(), clock=lambda: NOW - timedelta(days=3))
        token = long_ago.make(purpose, made.id, made.email)
    else:
        token = site.token(purpose, made)  # for "purpose", the route expects another one
        token = tampered(token) if spoil == "tamper" else token
    answer = await site.client.request(method, f"{path}/{token}", data={"lists": "ms-monthly"})
    assert answer.status_code == 400 and "Nothing was changed" in answer.text
    assert site.subscriber(made.email) == made


async def preferences_form(site: Site, who: Subscriber) -> tuple[str, str]:
    token = site.token(Purpose.PREFERENCES, who)
    page = await site.client.get(f"/preferences/{token}")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return token, found.group(1)


async def test_preferences_save_lists_cadence_and_topics(site: Site) -> None:
    who = active(site, "prefs@example.com")
    token, csrf = await preferences_form(site, who)
    form = {"csrf": csrf, "lists": ["ms-monthly"], "cadence": "monthly"}
    answer = await site.client.post(
        f"/preferences/{token}", data={**form, "topics": "multiple-sclerosis"}
    )
    assert answer.status_code == 200 and "Saved." in answer.text
    saved = site.subscriber(who.email)
    assert saved is not None and saved.lists == ("ms-monthly",)
    assert saved.preferences.cadence == Cadence.MONTHLY
    assert saved.preferences.topics == ("multiple-sclerosis",)


async def test_preferences_refuse_a_forged_form(site: Site) -> None:
    who = active(site, "victim@example.com")
    other = active(site, "attacker@example.com")
    token, csrf = await preferences_form(site, who)
    _, their_csrf = await preferences_form(site, other)  # the cookie now holds theirs
    attempts = [
        {"lists": "ms-monthly"},  # no token in the form
        {"csrf": csrf, "lists": "ms-monthly"},  # form and cookie disagree
        {"csrf": their_csrf, "lists": "ms-monthly"},  # someone else's pair
        {"csrf": their_csrf, "lists": "ms-monthly", "cadence": "hourly"},
    ]
    for form in attempts:
        answer = await site.client.post(f"/preferences/{token}", data=form)
        assert answer.status_code == 400
    token, csrf = await preferences_form(site, who)
    bad_value = {"csrf": csrf, "lists": "ms-monthly", "cadence": "hourly"}
    answer = await site.client.post(f"/preferences/{token}", data=bad_value)
    assert answer.status_code == 400 and "Unknown cadence" in answer.text
    assert site.subscriber(who.email) == who


async def test_no_page_redirects_to_a_url_from_the_request(site: Site) -> None:
    who = active(site, "stay@example.com")
    evil = "?next=https://evil.example/&redirect=https://evil.example/"
    answers = [
        await site.client.post(
            f"/subscribe{evil}", data={"email": "r@example.com", "lists": "weekly"}
        ),
        await site.client.get(f"/u/{site.token(Purpose.UNSUBSCRIBE, who)}{evil}"),
        await site.client.get(f"/preferences/{site.token(Purpose.PREFERENCES, who)}{evil}"),
    ]
    for answer in answers:
        assert answer.status_code == 200 and "location" not in answer.headers
        assert "evil.example" not in answer.text


def one_click(app: App, url: str) -> int:
    """What a mail client does for RFC 8058: POST the List-Unsubscribe URL, no cookies."""
    path = url.removeprefix(app.settings.site.base_url)

    async def post() -> int:
        transport = httpx.ASGITransport(app=create_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answer = await client.post(path, data={"List-Unsubscribe": "One-Click"})
            return answer.status_code

    return asyncio.run(post())


def test_one_click_before_the_next_send_means_nothing_more_arrives(instance: Path) -> None:
    """A plain (not async) test: send_issue runs its own event loop."""
    handler = Counting()
    with SMTPThread(handler) as server:
        settings = config.load(instance / "newsletter.toml", {"smtp": {"port": server.port}})
        early = app_module.build(settings, clock=lambda: datetime(2026, 10, 1, 12, tzinfo=UTC))
        late = app_module.build(settings, clock=lambda: NOW)
        db.migrate(late.engine)
        csvfile.import_csv(late, instance / "subscribers.csv")
        pipeline.refresh(late)
        first = issues.compose_next(early, "weekly")
        assert first is not None and send_issue(early, first.id).sent == 8
        ada = next(data for _, rcpt, data in handler.messages if rcpt == "ada.lovelace@example.com")
        header = email.message_from_bytes(ada, policy=email.policy.default)["List-Unsubscribe"]
        url = re.search(r"<(https://[^>]+)>", str(header)).group(1)  # type: ignore[union-attr]
        assert one_click(late, url) == 200
        handler.messages.clear()
        second = issues.compose_next(late, "weekly")
        assert second is not None and send_issue(late, second.id).sent == 7
        assert "ada.lovelace@example.com" not in {rcpt for _, rcpt, _ in handler.messages}
        assert len(handler.messages) == 7
        early.close()
        late.close()
