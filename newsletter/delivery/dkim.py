"""DKIM signing of outgoing messages (dkimpy), on when `[dkim] key_file` is set.

Signed headers include List-Unsubscribe and List-Unsubscribe-Post: large
mailbox providers only honour one-click unsubscribe when the signature covers
them. Relaxed/relaxed canonicalisation survives relays that refold headers.
"""

from __future__ import annotations

from pathlib import Path

import dkim

from newsletter.config import DKIMSettings
from newsletter.errors import ConfigError

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)


class Signer:
    """Prepends a DKIM-Signature header to wire bytes."""

    def __init__(self, domain: str, selector: str, key: bytes) -> None:
        self.domain = domain.encode("ascii")
        self.selector = selector.encode("ascii")
        self.key = key

    @classmethod
    def load(cls, settings: DKIMSettings, key_file: Path, default_domain: str) -> Signer:
        """A signer from config; ConfigError naming the key file when it cannot be used."""
        try:
            key = key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read DKIM key: {exc.strerror}", where=str(key_file)) from exc
        if b"PRIVATE KEY" not in key:
            raise ConfigError("not a PEM private key", where=str(key_file))
        return cls(settings.domain or default_domain, settings.selector, key)

    def sign(self, data: bytes) -> bytes:
        header = dkim.sign(
            data,
            self.selector,
            self.domain,
            self.key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
        )
        return header + data
