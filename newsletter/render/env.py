"""The Jinja2 environment for emails: instance templates override the package's, file by file.

Autoescape is on for HTML; templates see only plain view data (strings, lists,
Markup for sanitised article HTML) and the `marker()` global for per-subscriber
fields, so nothing from an article or a subscriber is ever evaluated as template.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    select_autoescape,
)

from newsletter.errors import RenderError
from newsletter.placeholders import marker
from newsletter.resources import default_templates


def theme_loader(instance_templates: Path) -> ChoiceLoader:
    """The instance's templates first, then the package's default theme (emails and pages)."""
    return ChoiceLoader(
        [FileSystemLoader(instance_templates), FileSystemLoader(default_templates())]
    )


def environment(instance_templates: Path) -> Environment:
    """A fresh environment per issue rendered. Parsing costs milliseconds per issue, and a
    cached one would miss an override file added to the instance while the scheduler
    runs (Jinja rechecks only the file it first loaded, the package's)."""
    env = Environment(
        loader=theme_loader(instance_templates),
        autoescape=select_autoescape(["html", "htm", "xml"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["marker"] = marker
    return env


def template(env: Environment, name: str, where: str) -> Template:
    """A template by name, or a RenderError naming it and who asked for it."""
    try:
        return env.get_template(name)
    except TemplateNotFound as exc:
        raise RenderError(
            f"template {name!r} not found",
            where=where,
            hint="put it in the instance's templates/ folder or fix the list's template",
        ) from exc
    except TemplateError as exc:
        raise RenderError(f"template {name!r} is broken: {exc}", where=where) from exc


def render(env: Environment, name: str, context: dict[str, object], where: str) -> str:
    """Render a template; a failure names the template instead of a traceback."""
    try:
        return template(env, name, where).render(context)
    except TemplateError as exc:
        raise RenderError(f"template {name!r} fails: {exc}", where=where) from exc
