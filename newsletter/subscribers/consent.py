"""What a person does about their own subscription, and what we owe them about their data.

Subscribing makes an address pending; only the confirmation link (a signed,
expiring token) makes it active, and that moment and the client address are
recorded as the opt-in. Unsubscribing and preference changes take a token bound
to the subscriber. `forget` erases a person and keeps only a one-way hash so no
later import can bring them back; `show` returns everything we hold about them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from email_validator import EmailNotValidError, validate_email

from newsletter.app import App
from newsletter.config import Settings
from newsletter.errors import InputError, NotFound
from newsletter.models import Cadence, Preferences, Subscriber, SubscriberStatus
from newsletter.store import issues as issue_store
from newsletter.store import subscribers as store
from newsletter.tokens import Purpose, Tokens, address_hash

SUPPRESSED = frozenset(
    {SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED}
)
MAX_NAME = 200


def check_address(raw: str, where: str = "email") -> tuple[str, str]:
    """(address to send to, lowercase key for dedupe). No DNS lookups; international
    domains are accepted and kept in their ASCII (xn--) form, so a domain written
    either way is one subscriber and every address is one SMTP can carry without
    SMTPUTF8; a non-ASCII local part is refused for that reason."""
    text = raw.strip()
    if not text:
        raise InputError("no email address", where=where)
    try:
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InputError(f"not a valid email address: {exc}", where=where) from exc
    address = checked.ascii_email or checked.normalized
    return address, address.lower()


def check_name(raw: str, where: str = "name") -> str:
    """A display name safe for headers and pages: no control characters, bounded length."""
    name = raw.strip()
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InputError("name contains control characters", where=where)
    if len(name) > MAX_NAME:
        raise InputError(f"name longer than {MAX_NAME} characters", where=where)
    return name


def check_lists(settings: Settings, names: Iterable[str], where: str = "lists") -> tuple[str, ...]:
    """Configured list names only; an unknown one is an error, not silently dropped."""
    known = {item.name for item in settings.lists}
    wanted = tuple(dict.fromkeys(name.strip() for name in names if name.strip()))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise InputError(
            f"unknown list {unknown[0]!r}", where=where, hint=f"lists: {', '.join(sorted(known))}"
        )
    return wanted


def known_topics(settings: Settings) -> tuple[str, ...]:
    """The topics a subscriber can choose: every topic some list is about."""
    return tuple(sorted({topic for item in settings.lists for topic in item.topics}))


def list_ids(app: App, conn: Any) -> dict[str, int]:
    """Ids of the configured lists, creating their rows on first use."""
    now = app.clock()
    return {
        item.name: issue_store.ensure_list(conn, item.name, item.title, now)
        for item in app.settings.lists
    }


def request(
    app: App, email: str, name: str, list_names: Iterable[str], client: str
) -> Subscriber | None:
    """Record a sign-up; returns the subscriber to send a confirmation to, or None when
    nothing is to be sent (already active, bounced or complained). The caller answers
    the same either way, so the form never tells whether an address is known."""
    address, key = check_address(email)
    name = check_name(name)
    wanted = check_lists(app.settings, list_names)
    if not wanted:
        raise InputError("choose at least one list", where="lists")
    now = app.clock()
    with app.engine.begin() as conn:
        ids = list_ids(app, conn)
        found = store.by_key(conn, key)
        if found is not None and found.status not in {
            SubscriberStatus.PENDING,
            SubscriberStatus.UNSUBSCRIBED,
        }:
            return None
        if found is None:
            subscriber_id = store.insert_pending(conn, address, key, name, now)
        else:
            subscriber_id = found.id
            if name:
                store.rename(conn, subscriber_id, name)
        store.set_memberships(conn, subscriber_id, (ids[n] for n in wanted), now)
        return store.by_id(conn, subscriber_id)


def _owner(conn: Any, subscriber_id: int, hash_prefix: str) -> Subscriber | None:
    """The subscriber a token names, if it is still the same person (ids are not reused
    across a forget, but the address binding makes sure)."""
    found = store.by_id(conn, subscriber_id)
    if found is not None and not Tokens.matches(found.email, hash_prefix):
        raise InputError("this link is not valid", where="token")
    return found


def confirm(app: App, token: str, client: str) -> Subscriber:
    """Activate the subscriber a confirmation link names and record the opt-in."""
    subscriber_id, prefix, issued = app.tokens().read_issued(Purpose.CONFIRM, token)
    with app.engine.begin() as conn:
        found = _owner(conn, subscriber_id, prefix)
        if found is None:
            raise InputError("this link is not valid", where="token")
        if found.status == SubscriberStatus.ACTIVE:
            return found
        changed = found.status_changed_at
        if found.status != SubscriberStatus.PENDING and (
            found.status != SubscriberStatus.UNSUBSCRIBED
            or (changed is not None and issued < changed.replace(microsecond=0))
        ):
            raise InputError("this confirmation link no longer applies", where="token")
        store.confirm(conn, found.id, app.clock(), client)
        store.unsuppress_hash(conn, address_hash(found.email))
        return store.by_id(conn, found.id) or found


def subscriber_for(app: App, purpose: Purpose, token: str) -> Subscriber:
    """The subscriber a link names; InputError for a bad token or one whose person is gone."""
    subscriber_id, prefix = app.tokens().read(purpose, token)
    with app.engine.connect() as conn:
        found = _owner(conn, subscriber_id, prefix)
    if found is None:
        raise InputError("this link is not valid", where="token")
    return found


def unsubscribe(app: App, token: str) -> Subscriber | None:
    """Unsubscribe the person a link names, at once; repeating it changes nothing.
    None when that person was already erased (nothing left to unsubscribe)."""
    subscriber_id, prefix = app.tokens().read(Purpose.UNSUBSCRIBE, token)
    with app.engine.begin() as conn:
        found = _owner(conn, subscriber_id, prefix)
        if found is None:
            return None
        return _unsubscribe(conn, app, found)


def unsubscribe_address(app: App, email: str) -> Subscriber | None:
    """Unsubscribe by address (mail to the List-Unsubscribe mailto); None when unknown."""
    _, key = check_address(email)
    with app.engine.begin() as conn:
        found = store.by_key(conn, key)
        return _unsubscribe(conn, app, found) if found else None


def _unsubscribe(conn: Any, app: App, found: Subscriber) -> Subscriber:
    pending_or_active = (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)
    store.move_status(conn, found.id, SubscriberStatus.UNSUBSCRIBED, pending_or_active, app.clock())
    return store.by_id(conn, found.id) or found


def save_preferences(
    app: App,
    subscriber: Subscriber,
    list_names: Iterable[str],
    cadence: str,
    topics: Iterable[str],
) -> Subscriber:
    """Replace a subscriber's lists, cadence and topics; any unknown value changes nothing."""
    wanted = check_lists(app.settings, list_names)
    if cadence and cadence not in set(Cadence):
        raise InputError(f"unknown cadence {cadence!r}", where="cadence")
    allowed = set(known_topics(app.settings))
    chosen = tuple(dict.fromkeys(t for t in topics if t))
    unknown = [t for t in chosen if t not in allowed]
    if unknown:
        raise InputError(f"unknown topic {unknown[0]!r}", where="topics")
    preferences = Preferences(cadence=Cadence(cadence) if cadence else None, topics=chosen)
    with app.engine.begin() as conn:
        ids = list_ids(app, conn)
        store.set_memberships(conn, subscriber.id, (ids[n] for n in wanted), app.clock())
        store.set_preferences(conn, subscriber.id, preferences)
        return store.by_id(conn, subscriber.id) or subscriber


def forget(app: App, email: str) -> bool:
    """Erase everything about an address and keep only its hash on the suppression list.
    True when a stored subscriber was erased; the hash is kept either way."""
    _, key = check_address(email)
    with app.engine.begin() as conn:
        found = store.by_key(conn, key)
        if found is not None:
            store.delete_subscriber(conn, found.id)
        store.suppress_hash(conn, address_hash(key), "forgotten", app.clock())
    return found is not None


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def show(app: App, email: str) -> dict[str, Any]:
    """Everything we hold about one address, as JSON-ready data (a subject access request)."""
    _, key = check_address(email)
    with app.engine.connect() as conn:
        found = store.by_key(conn, key)
        if found is None:
            if store.suppressed_hashes(conn, [address_hash(key)]):
                return {"email_hash": address_hash(key), "suppressed": True}
            raise NotFound(f"no subscriber {email.strip()!r}")
        deliveries = store.deliveries_of(conn, found.id)
        bounces = store.bounces_of(conn, found.id)
    person = {
        "email": found.email,
        "name": found.name,
        "status": str(found.status),
        "lists": list(found.lists),
        "preferences": store.preferences_json(found.preferences),
        "created_at": _iso(found.created_at),
        "confirmed_at": _iso(found.confirmed_at),
        "confirmed_ip": found.confirmed_ip,
        "status_changed_at": _iso(found.status_changed_at),
    }
    person["deliveries"] = [{k: _iso(v) for k, v in row.items()} for row in deliveries]
    person["bounces"] = [{k: _iso(v) for k, v in row.items()} for row in bounces]
    return person
