"""Settings: one TOML file per instance, overridden by the environment, validated.

This is the only module that reads `os.environ`. Relative paths in the file are
relative to the folder that holds the file (the instance folder), so an
instance can be moved or run from anywhere.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from newsletter.errors import ConfigError
from newsletter.models import Cadence

CONFIG_FILE = "newsletter.toml"
ENV_PREFIX = "NEWSLETTER_"
SECRET_KEYS = {("smtp", "password"), ("web", "secret_key"), ("web", "admin_password")}
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
DEMO_SIGNING_KEY = "newsletter-demo-key-not-secret"  # public on purpose: demo instances only


class Section(BaseModel):
    """A TOML table: unknown keys are errors, not silently ignored typos."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class SiteSettings(Section):
    title: str = "Newsletter"
    description: str = ""
    base_url: str = "http://127.0.0.1:8000"
    language: str = "en"
    timezone: str = "UTC"
    icon_url: str = ""

    @field_validator("base_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    _zone = field_validator("timezone")(classmethod(lambda cls, v: _check_zone(v)))


class PathSettings(Section):
    content: Path = Path("content")
    feeds: Path = Path("feeds")
    templates: Path = Path("templates")
    maildir: Path = Path("maildir")


class DatabaseSettings(Section):
    url: str = "sqlite:///newsletter.db"


class SMTPSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str = ""
    password: SecretStr | None = None
    timeout: float = Field(default=30.0, gt=0)
    pool_size: int = Field(default=4, ge=1, le=64)
    messages_per_connection: int = Field(default=100, ge=1)
    rate_per_second: float = Field(default=0.0, ge=0)
    rate_per_hour: int = Field(default=0, ge=0)
    max_attempts: int = Field(default=5, ge=1)
    errors_before_pause: int = Field(default=20, ge=1)
    lease_seconds: float = Field(default=120.0, gt=0)
    retry_base_seconds: float = Field(default=300.0, ge=0)
    processes: int = Field(default=1, ge=1, le=32)


class SenderSettings(Section):
    name: str = "Newsletter"
    address: str = "newsletter@example.org"
    reply_to: str = ""
    bounce_address: str = ""
    unsubscribe_address: str = "unsubscribe@example.org"
    postal_address: str = ""
    verp: bool = False
    soft_bounce_limit: int = Field(default=3, ge=1)


class DKIMSettings(Section):
    """Signing outgoing mail; off until a key file is given."""

    domain: str = ""
    selector: str = "newsletter"
    key_file: Path | None = None


class FeedSettings(Section):
    max_items: int = Field(default=50, ge=1, le=100_000)
    full_content: bool = True
    hub_url: str = ""


class RemoteSource(Section):
    name: str = Field(pattern=NAME_PATTERN)
    url: str = Field(pattern=r"^https?://\S+$")


class GatherSettings(Section):
    interval_minutes: int = Field(default=30, ge=1)
    sources: tuple[RemoteSource, ...] = ()


class WebSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    request_log_max_mb: float = Field(default=10.0, ge=0)
    request_log_keep: int = Field(default=5, ge=0, le=1000)
    secret_key: SecretStr | None = None
    admin_password: SecretStr | None = None


class ListSettings(Section):
    """An audience: which topics, how often, when, and how the issue looks."""

    name: str = Field(pattern=NAME_PATTERN)
    title: str
    description: str = ""
    topics: tuple[str, ...] = ()
    cadence: Cadence = Cadence.WEEKLY
    send_time: time = time(8, 0)
    timezone: str = "UTC"
    mode: Literal["full", "excerpt"] = "excerpt"
    max_articles: int = Field(default=20, ge=1, le=200)
    subject: str = "{{ list.title }} #{{ number }}: {{ lead.title }}"
    template: str = "digest"
    send_empty: bool = False
    updated_notices: bool = False

    _zone = field_validator("timezone")(classmethod(lambda cls, v: _check_zone(v)))


class Settings(BaseSettings):
    """The whole configuration of one instance."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    instance_dir: Path = Path(".")
    site: SiteSettings = SiteSettings()
    paths: PathSettings = PathSettings()
    database: DatabaseSettings = DatabaseSettings()
    smtp: SMTPSettings = SMTPSettings()
    sender: SenderSettings = SenderSettings()
    dkim: DKIMSettings = DKIMSettings()
    feeds: FeedSettings = FeedSettings()
    gather: GatherSettings = GatherSettings()
    web: WebSettings = WebSettings()
    lists: tuple[ListSettings, ...] = ()
    demo: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment wins over the file (init holds the file's tables)."""
        return (env_settings, init_settings)

    @field_validator("lists")
    @classmethod
    def _unique_lists(cls, value: tuple[ListSettings, ...]) -> tuple[ListSettings, ...]:
        names = [item.name for item in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"list names must be unique, repeated: {', '.join(duplicates)}")
        return value

    def path(self, relative: Path) -> Path:
        """A configured path, resolved against the instance folder."""
        return relative if relative.is_absolute() else self.instance_dir / relative

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite file placed in the instance folder."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.path(Path(url[len(prefix) :])))
        return url

    def signing_key(self) -> str:
        """The key for links in emails; only a demo instance may run on the built-in one."""
        if self.web.secret_key is not None:
            return self.web.secret_key.get_secret_value()
        if self.demo:
            return DEMO_SIGNING_KEY
        raise ConfigError(
            "no signing key for links in emails",
            hint=f"set {ENV_PREFIX}WEB__SECRET_KEY (or demo = true on a test instance)",
        )

    def list_named(self, name: str) -> ListSettings:
        for item in self.lists:
            if item.name == name:
                return item
        known = ", ".join(item.name for item in self.lists) or "none configured"
        raise ConfigError(f"no list named {name!r}", hint=f"lists: {known}")


def _first_error(exc: ValidationError) -> str:
    """One line naming the key, from pydantic's list of errors."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    shown = error.get("input")
    got = f" (got {shown!r})" if isinstance(shown, str | int | float | bool) else ""
    return f"{key}: {error['msg']}{got}"


def _reject_secrets_in_file(data: Mapping[str, Any], where: str) -> None:
    for section, key in SECRET_KEYS:
        if key in data.get(section, {}):
            env = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
            raise ConfigError(
                f"{section}.{key}: secrets are not read from the file",
                where=where,
                hint=f"set {env}",
            )


def read_file(path: Path) -> dict[str, Any]:
    """Parse the TOML file, or say in one line why it cannot be used."""
    if not path.is_file():
        raise ConfigError(
            "config file not found",
            where=str(path),
            hint="run from an instance folder or pass --config",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from exc
    _reject_secrets_in_file(data, str(path))
    if "instance_dir" in data:
        raise ConfigError("instance_dir: unknown key", where=str(path))
    return data


def load(path: Path, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Settings:
    """Settings for the instance whose config file is `path`; environment overrides apply.

    `overrides` replaces single keys inside tables (the demo points [smtp] at its own sink).
    """
    data = read_file(path)
    for section, values in (overrides or {}).items():
        data[section] = {**data.get(section, {}), **values}
    try:
        return Settings(instance_dir=path.resolve().parent, **data)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc), where=str(path)) from exc


def config_path(explicit: str | None) -> Path:
    """Which config file to use: --config, else $NEWSLETTER_CONFIG, else ./newsletter.toml."""
    return Path(explicit or os.environ.get(f"{ENV_PREFIX}CONFIG") or CONFIG_FILE)
