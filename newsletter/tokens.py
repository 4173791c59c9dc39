"""Signed tokens in links: bound to one subscriber and one purpose, some of them expiring.

A token is an itsdangerous signature over (subscriber id, a hash of the address);
the purpose is the salt, so an unsubscribe token never works as a confirm token.
A tampered, expired or other-purpose token raises InputError and changes nothing.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from newsletter.errors import InputError


class Purpose(StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    CONFIRM = "confirm"


# Unsubscribe and preference links must keep working in old emails; confirmations expire.
MAX_AGE = {Purpose.UNSUBSCRIBE: None, Purpose.PREFERENCES: None, Purpose.CONFIRM: 48 * 3600}


def address_hash(email: str) -> str:
    """A one-way hash of a normalised address: binds tokens, keys the suppression list."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


class Tokens:
    """Makes and reads tokens with the instance's signing key."""

    def __init__(self, secret: str) -> None:
        self._serializers = {
            purpose: URLSafeTimedSerializer(secret, salt=f"newsletter.{purpose}")
            for purpose in Purpose
        }

    def make(self, purpose: Purpose, subscriber_id: int, email: str) -> str:
        payload = [subscriber_id, address_hash(email)[:16]]
        return str(self._serializers[purpose].dumps(payload))

    def read(self, purpose: Purpose, token: str) -> tuple[int, str]:
        """(subscriber id, address hash prefix); InputError when the token is not good."""
        try:
            payload = self._serializers[purpose].loads(token, max_age=MAX_AGE[purpose])
        except SignatureExpired as exc:
            raise InputError("this link has expired", where="token") from exc
        except BadData as exc:
            raise InputError("this link is not valid", where="token") from exc
        if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
            raise InputError("this link is not valid", where="token")
        return payload[0], str(payload[1])

    @staticmethod
    def matches(email: str, hash_prefix: str) -> bool:
        return address_hash(email)[:16] == hash_prefix
