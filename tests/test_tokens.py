"""Signed link tokens: bound to subscriber and purpose; tampered, expired or misused ones fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from newsletter.errors import InputError
from newsletter.tokens import MAX_AGE, Purpose, Tokens, address_hash

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def at(when: datetime) -> Tokens:
    return Tokens("test-key", clock=lambda: when)


def test_a_token_reads_back_as_its_subscriber_and_address() -> None:
    token = at(NOW).make(Purpose.UNSUBSCRIBE, 42, "Ada@Example.com")
    subscriber_id, prefix = at(NOW).read(Purpose.UNSUBSCRIBE, token)
    assert subscriber_id == 42
    assert Tokens.matches("ada@example.com", prefix)
    assert not Tokens.matches("someone.else@example.com", prefix)


def test_the_issue_time_comes_from_the_clock() -> None:
    token = at(NOW).make(Purpose.CONFIRM, 1, "a@example.com")
    assert at(NOW).read_issued(Purpose.CONFIRM, token) == (
        1,
        address_hash("a@example.com")[:16],
        NOW,
    )


@pytest.mark.parametrize("position", [0, 10, -5, -3])
def test_a_tampered_token_is_refused(position: int) -> None:
    token = at(NOW).make(Purpose.UNSUBSCRIBE, 7, "a@example.com")
    changed = "A" if token[position] != "A" else "B"
    tampered = token[:position] + changed + token[position:][1:]
    with pytest.raises(InputError, match="not valid"):
        at(NOW).read(Purpose.UNSUBSCRIBE, tampered)


@pytest.mark.parametrize("other", [p for p in Purpose if p is not Purpose.UNSUBSCRIBE])
def test_a_token_for_another_purpose_is_refused(other: Purpose) -> None:
    token = at(NOW).make(Purpose.UNSUBSCRIBE, 7, "a@example.com")
    with pytest.raises(InputError, match="not valid"):
        at(NOW).read(other, token)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = Tokens("another-key", clock=lambda: NOW).make(Purpose.PREFERENCES, 7, "a@example.com")
    with pytest.raises(InputError, match="not valid"):
        at(NOW).read(Purpose.PREFERENCES, token)


def test_a_validly_signed_but_misshapen_payload_is_refused() -> None:
    forged = URLSafeTimedSerializer("test-key", salt="newsletter.unsubscribe").dumps({"id": 7})
    with pytest.raises(InputError, match="not valid"):
        at(NOW).read(Purpose.UNSUBSCRIBE, forged)


def test_a_confirmation_expires_after_its_max_age() -> None:
    token = at(NOW).make(Purpose.CONFIRM, 3, "a@example.com")
    limit = timedelta(seconds=MAX_AGE[Purpose.CONFIRM] or 0)
    assert at(NOW + limit).read(Purpose.CONFIRM, token)[0] == 3
    with pytest.raises(InputError, match="expired"):
        at(NOW + limit + timedelta(seconds=2)).read(Purpose.CONFIRM, token)


def test_unsubscribe_links_in_old_emails_keep_working() -> None:
    token = at(NOW).make(Purpose.UNSUBSCRIBE, 3, "a@example.com")
    assert at(NOW + timedelta(days=3650)).read(Purpose.UNSUBSCRIBE, token)[0] == 3


def test_address_hash_ignores_case_and_surrounding_space() -> None:
    assert address_hash(" Ada@Example.COM ") == address_hash("ada@example.com")
    assert len(address_hash("ada@example.com")) == 64


def test_tokens_in_mail_already_sent_stay_valid_and_several_purposes_share_one_payload() -> None:
    """Signatures are plain itsdangerous HMAC-SHA1 whatever path computes them."""
    stock = URLSafeTimedSerializer("test-key", salt="newsletter.unsubscribe")
    old = stock.dumps([7, address_hash("a@example.com")[:16]])
    assert at(NOW).read(Purpose.UNSUBSCRIBE, old)[0] == 7
    unsubscribe, preferences = at(NOW).make_each(
        (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES), 7, "a@example.com"
    )
    assert stock.loads(unsubscribe)[0] == 7
    assert at(NOW).read(Purpose.PREFERENCES, preferences)[0] == 7
    with pytest.raises(InputError):
        at(NOW).read(Purpose.PREFERENCES, unsubscribe)
