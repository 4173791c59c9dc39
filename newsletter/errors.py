"""Named errors: each carries what it is about and what the user can do.

Only the boundaries (CLI main, job runner, web error handler) catch broadly;
everything below raises one of these so the boundary can print one clear line.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Base of every error the tool reports to a user."""

    def __init__(self, message: str, *, where: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        line = f"{self.where}: {self.message}" if self.where else self.message
        return f"{line} ({self.hint})" if self.hint else line


class ConfigError(NewsletterError):
    """The TOML file or an environment override is missing, malformed or invalid."""


class SourceError(NewsletterError):
    """A source (Markdown file, remote feed) could not be read; `where` is file:line or URL."""


class InputError(NewsletterError):
    """Hostile or malformed outside input: a CSV row, a form field, a token."""


class RenderError(NewsletterError):
    """A template is missing or fails to render."""


class NotFound(NewsletterError):
    """A named thing (issue, list, subscriber) does not exist."""


class DeliveryError(NewsletterError):
    """An SMTP exchange failed; `code` is the server's reply code (0 when none)."""

    def __init__(self, message: str, *, code: int = 0, where: str = "", hint: str = "") -> None:
        super().__init__(message, where=where, hint=hint)
        self.code = code


class TemporaryDeliveryError(DeliveryError):
    """4xx reply, connection loss or timeout: try again later."""


class PermanentDeliveryError(DeliveryError):
    """5xx reply: do not retry this message."""
