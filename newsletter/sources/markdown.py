"""The instance's own articles: a folder of Markdown files with YAML front matter.

A file starts with a `---` line, the front matter, another `---` line, then the
body in Markdown (CommonMark with tables). Front-matter keys:

    title       required  text
    date        required  ISO date or date-time; without an offset it is in the site time zone
    updated     optional  same form; set it to say when an edit happened
    source      optional  attribution line, "Source: " prefix allowed ("Source: Riverbend Pharmacy")
    author      optional  a person; stored with the attribution as "Author (Source)"
    categories  optional  list of topics, e.g. [multiple-sclerosis, research]
    summary     optional  plain text; the excerpt is made from it (else from the body)
    references  optional  list of citation strings, in order
    image       optional  {url, alt, width, height}
    enclosure   optional  {url, length, type, duration}: podcast audio, a PDF
    id          optional  the article's permanent identity
    slug        optional  the URL name; else one is made from the title

Identity: an article is (source, guid) for ever, and the guid is `id` or else the
file name without `.md`. Renaming a file without an `id` therefore makes a new
article (and leaves the old one stored); set `id` before renaming to keep it.

Unknown keys are errors, so a typo ("catgories") is reported instead of ignored.
Each bad file becomes one SourceError whose `where` is "content/<file>.md:<line>",
the line of the offending key or of the YAML error; the other files still load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt

from newsletter.errors import SourceError
from newsletter.models import Enclosure, Image, RawEntry
from newsletter.sources import LOCAL_SOURCE, Batch

MAX_BYTES = 1_000_000
FENCE = "---"
FRONT_MATTER_FIRST_LINE = 2  # the YAML starts on the file's second line
KNOWN_KEYS = (
    *("title", "date", "updated", "source", "author", "categories", "summary"),
    *("references", "image", "enclosure", "id", "slug"),
)
IMAGE_KEYS = frozenset({"url", "alt", "width", "height"})
ENCLOSURE_KEYS = frozenset({"url", "length", "type", "duration"})
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_ID = 200
MAX_SLUG = 120
ATTRIBUTION_PREFIX = re.compile(r"^\s*source\s*:\s*", re.IGNORECASE)
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.SafeLoader):
    """Safe YAML with dates kept as text, so a bad date is reported at its key like any value."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Bad(Exception):
    """A front-matter value is wrong; `key` locates it ("image.width", "references.2")."""

    def __init__(self, key: str, problem: str, hint: str = "") -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem
        self.hint = hint


def read_folder(folder: Path, *, label: str = "content", source: str = LOCAL_SOURCE) -> Batch:
    """Every `*.md` file of `folder`, in name order; `label` is the folder as users know it."""
    if not folder.is_dir():
        missing = SourceError("content folder not found", where=label, hint="check paths.content")
        return Batch(errors=(missing,))
    entries: list[RawEntry] = []
    errors: list[SourceError] = []
    for path in sorted(folder.glob("*.md")):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            entries.append(read_file(path, label=label, source=source))
        except SourceError as exc:
            errors.append(exc)
    return Batch(entries=tuple(entries), errors=tuple(errors))


def read_file(path: Path, *, label: str = "content", source: str = LOCAL_SOURCE) -> RawEntry:
    """One article file as a RawEntry, or a SourceError naming the file and line."""
    where = f"{label}/{path.name}"
    front, body = _split(_read_text(path, where), where)
    data, lines = _parse_front_matter(front, where)
    try:
        return _entry(data, body, source=source, guid_default=path.stem, where=where)
    except _Bad as bad:
        line = lines.get(bad.key) or lines.get(bad.key.split(".")[0], 1)
        raise SourceError(bad.problem, where=f"{where}:{line}", hint=bad.hint) from None


def render(markdown: str) -> str:
    """Body Markdown as HTML (untrusted still: gather sanitises it)."""
    return _parser().render(markdown)


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def _read_text(path: Path, where: str) -> str:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SourceError(
            f"file is too large ({size:,} bytes, the limit is {MAX_BYTES:,})", where=f"{where}:1"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(
            "not valid UTF-8", where=f"{where}:{line}", hint="save the file as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _split(text: str, where: str) -> tuple[str, str]:
    """(front matter, body): the YAML between the first two fence lines, then the rest."""
    lines = text.split("\n")
    if lines[0].rstrip() != FENCE:
        raise SourceError(
            "no front matter", where=f"{where}:1", hint="the file must begin with a '---' line"
        )
    for index in range(1, len(lines)):
        if lines[index].rstrip() in (FENCE, "..."):
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    raise SourceError(
        "front matter is not closed", where=f"{where}:1", hint="end it with a '---' line"
    )


def _parse_front_matter(front: str, where: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The front matter as a dict, and the file line of each key (and of nested keys/items)."""
    loader: _Loader | None = None
    try:
        loader = _Loader(front)  # refuses control characters already here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise SourceError(
            f"front matter is not valid YAML: {_yaml_problem(exc)}",
            where=f"{where}:{_yaml_line(exc, front)}",
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise SourceError(
            "front matter must be keys and values",
            where=f"{where}:{FRONT_MATTER_FIRST_LINE}",
            hint="for example 'title: My article'",
        )
    return data, _key_lines(node, where)


def _yaml_line(exc: Exception, front: str) -> int:
    """The file line a YAML error points at (its mark, or the offending character)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line + FRONT_MATTER_FIRST_LINE
    if isinstance(exc, yaml.reader.ReaderError):
        return front[: exc.position].count("\n") + FRONT_MATTER_FIRST_LINE
    return 1


def _yaml_problem(exc: Exception) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character U+{exc.character:04X} is not allowed"
    return getattr(exc, "problem", None) or str(exc) or type(exc).__name__


def _key_lines(node: yaml.MappingNode, where: str) -> dict[str, int]:
    """Lines of top-level keys and one level below: deep enough for this schema, and bounded
    (aliases can make a YAML tree exponentially large; we never walk it)."""
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + FRONT_MATTER_FIRST_LINE
        if key in lines:
            raise SourceError(f"{key}: duplicate key", where=f"{where}:{line}")
        lines[key] = line
        children: list[tuple[str, yaml.Node]] = []
        if isinstance(value_node, yaml.MappingNode):
            children = [(str(k.value), k) for k, _ in value_node.value]
        elif isinstance(value_node, yaml.SequenceNode):
            children = [(str(i), item) for i, item in enumerate(value_node.value)]
        for child, child_node in children:
            lines[f"{key}.{child}"] = child_node.start_mark.line + FRONT_MATTER_FIRST_LINE
    return lines


def _entry(
    data: dict[str, Any], body: str, *, source: str, guid_default: str, where: str
) -> RawEntry:
    unknown = [key for key in data if key not in KNOWN_KEYS]
    if unknown:
        raise _Bad(str(unknown[0]), f"{unknown[0]}: unknown key", "known: " + ", ".join(KNOWN_KEYS))
    author = _text(data, "author")
    attribution = ATTRIBUTION_PREFIX.sub("", _text(data, "source"))
    return RawEntry(
        source=source,
        guid=_identity(data, guid_default),
        title=_text(data, "title", required=True),
        published=_when(data, "date", required=True),  # type: ignore[arg-type]
        updated=_when(data, "updated"),
        body_html=render(body),
        where=where,
        slug=_slug(data),
        author=f"{author} ({attribution})" if author and attribution else author or attribution,
        categories=_texts(data, "categories"),
        summary=_text(data, "summary"),
        references=_texts(data, "references"),
        image=_image(data.get("image")),
        enclosure=_enclosure(data.get("enclosure")),
    )


def _type_name(value: object) -> str:
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _text(data: Mapping[str, Any], key: str, *, required: bool = False, prefix: str = "") -> str:
    value = data.get(key)
    name = prefix + key
    if value is None:
        if required:
            raise _Bad(name, f"{name}: required key is missing")
        return ""
    if not isinstance(value, str):
        raise _Bad(name, f"{name}: must be text, got {_type_name(value)}", "put it in quotes")
    if required and not value.strip():
        raise _Bad(name, f"{name}: must not be empty")
    return value.strip()


def _texts(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Bad(key, f"{key}: must be a list, got {_type_name(value)}", f"{key}: [one, two]")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _Bad(f"{key}.{index}", f"{key}: item {index + 1} must be non-empty text")
    return tuple(item.strip() for item in value)


def _when(data: Mapping[str, Any], key: str, *, required: bool = False) -> datetime | None:
    """A datetime, naive when the file gave no offset (gather reads it in the site zone)."""
    value = data.get(key)
    if value is None:
        if required:
            raise _Bad(key, f"{key}: required key is missing")
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    hint = "use ISO form, e.g. 2026-08-04 or 2026-08-04 09:30 or 2026-08-04T09:30:00-04:00"
    if not isinstance(value, str):
        raise _Bad(key, f"{key}: must be a date, got {_type_name(value)}", hint)
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Bad(key, f"{key}: not a valid date: {value.strip()[:40]!r}", hint) from None


def _identity(data: Mapping[str, Any], default: str) -> str:
    value = data.get("id")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Bad("id", f"id: must be text or a number, got {_type_name(value)}")
    text = str(value).strip()
    if not text or len(text) > MAX_ID:
        raise _Bad("id", f"id: must be 1 to {MAX_ID} characters")
    return text


def _slug(data: Mapping[str, Any]) -> str:
    slug = _text(data, "slug")
    if slug and (len(slug) > MAX_SLUG or not SLUG.match(slug)):
        raise _Bad(
            "slug",
            f"slug: {slug[:40]!r} is not a slug",
            f"lowercase letters, digits and single hyphens, at most {MAX_SLUG} characters",
        )
    return slug


def _mapping(value: object, key: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(key, f"{key}: must be a mapping, got {_type_name(value)}", "see the README")
    for name in value:
        if name not in allowed:
            known = "known: " + ", ".join(sorted(allowed))
            raise _Bad(f"{key}.{name}", f"{key}.{name}: unknown key", known)
    return value


def _count(value: Mapping[str, Any], key: str, prefix: str, *, required: bool = False) -> int:
    number = value.get(key)
    name = prefix + key
    if number is None and not required:
        return -1
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise _Bad(name, f"{name}: must be a whole number of 0 or more")
    return number


def _image(value: object) -> Image | None:
    if value is None:
        return None
    fields = _mapping(value, "image", IMAGE_KEYS)
    width = _count(fields, "width", "image.")
    height = _count(fields, "height", "image.")
    return Image(
        url=_text(fields, "url", required=True, prefix="image."),
        alt=_text(fields, "alt", prefix="image."),
        width=width if width >= 0 else None,
        height=height if height >= 0 else None,
    )


def _enclosure(value: object) -> Enclosure | None:
    if value is None:
        return None
    fields = _mapping(value, "enclosure", ENCLOSURE_KEYS)
    kind = _text(fields, "type", required=True, prefix="enclosure.")
    if "/" not in kind:
        raise _Bad("enclosure.type", "enclosure.type: must be a media type such as audio/mpeg")
    duration = fields.get("duration", "")
    if isinstance(duration, int) and not isinstance(duration, bool):
        duration = str(duration)
    return Enclosure(
        url=_text(fields, "url", required=True, prefix="enclosure."),
        length=_count(fields, "length", "enclosure.", required=True),
        type=kind,
        duration=_text({"duration": duration}, "duration", prefix="enclosure."),
    )
