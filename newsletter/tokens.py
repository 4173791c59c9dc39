"""Signed tokens in links: bound to one subscriber and one purpose, some of them expiring.

A token is an itsdangerous signature over (subscriber id, a hash of the address);
the purpose is the salt, so an unsubscribe token never works as a confirm token.
A tampered, expired or other-purpose token raises InputError and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.signer import HMACAlgorithm
from itsdangerous.url_safe import URLSafeSerializerMixin

from newsletter.errors import InputError


class Purpose(StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    CONFIRM = "confirm"
    CSRF = "csrf"


# Unsubscribe and preference links must keep working in old emails; confirmations expire,
# and a form's anti-forgery token only has to outlive one visit to the preferences page.
MAX_AGE = {
    Purpose.UNSUBSCRIBE: None,
    Purpose.PREFERENCES: None,
    Purpose.CONFIRM: 48 * 3600,
    Purpose.CSRF: 6 * 3600,
}


def address_hash(email: str) -> str:
    """A one-way hash of a normalised address: binds tokens, keys the suppression list."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def _hash_prefix(email: str) -> str:
    """What a token carries of the address: enough to bind it, too little to reveal it."""
    return address_hash(email)[:16]


def _system_clock() -> datetime:
    return datetime.now(UTC)


class _ClockSigner(TimestampSigner):
    """Takes "now" from the App's clock, so expiry follows the same time as everything else."""

    def __init__(self, *args: Any, clock: Callable[[], datetime], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock
        self._keys: dict[bytes | None, bytes] = {}

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        """The same key as itsdangerous derives, hashed once per secret, not once per token."""
        cache_key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        if cache_key not in self._keys:
            self._keys[cache_key] = super().derive_key(secret_key)
        return self._keys[cache_key]


class _HMACSHA1(HMACAlgorithm):
    """itsdangerous' own algorithm (HMAC-SHA1, the same bytes), through hashlib's one-shot C
    path: the default hands `hmac` a function as digestmod, which sends every signature
    through pure-Python HMAC, and a send makes two signatures per message."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha1")


class _Serializer(URLSafeTimedSerializer):
    """Payloads here are two short fields, where zlib never wins; itsdangerous tries it on
    every token. Skipping it gives the same token; reading still accepts compressed ones."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(super(URLSafeSerializerMixin, self).dump_payload(obj))


class Tokens:
    """Makes and reads tokens with the instance's signing key."""

    def __init__(self, secret: str, clock: Callable[[], datetime] = _system_clock) -> None:
        self._serializers = {
            purpose: _Serializer(
                secret,
                salt=f"newsletter.{purpose}",
                signer=_ClockSigner,
                signer_kwargs={"clock": clock, "algorithm": _HMACSHA1()},
            )
            for purpose in Purpose
        }
        # Signers are stateless: made once, not once per token as `dumps` would.
        self._signers = {purpose: s.make_signer() for purpose, s in self._serializers.items()}

    def make(self, purpose: Purpose, subscriber_id: int, email: str) -> str:
        return self.make_each((purpose,), subscriber_id, email)[0]

    def make_each(self, purposes: Sequence[Purpose], subscriber_id: int, email: str) -> list[str]:
        """One token per purpose for the same subscriber. The payload is the same for every
        purpose (only the salt differs), so it is encoded once; a send makes two per message."""
        encoder = self._serializers[purposes[0]]
        payload = encoder.dump_payload([subscriber_id, _hash_prefix(email)])
        return [self._signers[purpose].sign(payload).decode("ascii") for purpose in purposes]

    def read(self, purpose: Purpose, token: str) -> tuple[int, str]:
        """(subscriber id, address hash prefix); InputError when the token is not good."""
        subscriber_id, hash_prefix, _ = self.read_issued(purpose, token)
        return subscriber_id, hash_prefix

    def read_issued(self, purpose: Purpose, token: str) -> tuple[int, str, datetime]:
        """Like `read`, plus when the token was made: an old confirmation must not undo
        an unsubscribe that came after it."""
        try:
            payload, issued = self._serializers[purpose].loads(
                token, max_age=MAX_AGE[purpose], return_timestamp=True
            )
        except SignatureExpired as exc:
            raise InputError("this link has expired", where="token") from exc
        except BadData as exc:
            raise InputError("this link is not valid", where="token") from exc
        if not (
            isinstance(payload, list)
            and len(payload) == 2
            and isinstance(payload[0], int)
            and isinstance(payload[1], str)
        ):
            raise InputError("this link is not valid", where="token")
        return payload[0], payload[1], issued

    @staticmethod
    def matches(email: str, hash_prefix: str) -> bool:
        return _hash_prefix(email) == hash_prefix
