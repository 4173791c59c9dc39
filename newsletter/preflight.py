"""Preflight: what would embarrass the sender of an issue, found before anyone gets it.

Run on the frozen issue (what will be sent): leftover editing marks (TK, TODO)
and template syntax, links that are relative, plain http or dead in the
archive, images without alt text or pixel size, text colours with no
dark-mode pair, HTML above Gmail's clipping size, and a subject too long for an
inbox line. Errors stop a send; warnings are worth a look.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from cssselect import SelectorError
from lxml import html as lxml_html
from lxml.cssselect import CSSSelector
from lxml.etree import ParserError

from newsletter.errors import RenderError
from newsletter.links import Links
from newsletter.models import Issue
from newsletter.placeholders import MARKER, Filler

GMAIL_CLIP_BYTES = 102 * 1024
SUBJECT_CHARS = 78
EDITING_MARKS = re.compile(r"\b(TK|TODO|FIXME|XXX)\b|\{\{|\{%|\}\}")
INLINE_COLOR = re.compile(r"(?:^|;)\s*color\s*:\s*([^;]+)", re.IGNORECASE)
DARK_MEDIA = re.compile(r"@media[^{]*prefers-color-scheme\s*:\s*dark[^{]*\{", re.IGNORECASE)
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: how bad, what, and where in the issue."""

    severity: Severity
    message: str
    where: str = ""

    def __str__(self) -> str:
        place = f" [{self.where}]" if self.where else ""
        return f"{self.severity}: {self.message}{place}"


def _error(message: str, where: str = "") -> Finding:
    return Finding(Severity.ERROR, message, where)


def _visible_text(root: lxml_html.HtmlElement) -> str:
    """The words a reader sees: no style block, no comments (Outlook conditionals)."""
    parts = []
    for element in root.iter():
        if element.tag in ("style", "script") or not isinstance(element.tag, str):
            parts.append(element.tail or "")
            continue
        parts.extend((element.text or "", element.tail or ""))
    return " ".join(parts)


def _editing_marks(text: str, part: str) -> Iterator[Finding]:
    for mark in sorted({m.group(0) for m in EDITING_MARKS.finditer(text)}):
        yield _error(f"leftover {mark!r} in the text", where=part)


def _placeholders(issue: Issue) -> Iterator[Finding]:
    for part, body in (("html", issue.html), ("text", issue.text)):
        try:
            Filler.parse(body)
        except RenderError as exc:
            yield _error(exc.message, where=part)


def _links(
    root: lxml_html.HtmlElement, links: Links, slug_exists: Callable[[str], bool]
) -> Iterator[Finding]:
    articles = links.article("")
    seen: set[str] = set()
    for element, attribute, url, _ in root.iterlinks():
        if url in seen or attribute not in ("href", "src") or MARKER.fullmatch(url):
            continue
        seen.add(url)
        where = f"<{element.tag} {attribute}={url!r}>"
        if url.startswith(("mailto:", "#")):
            continue
        if url.startswith("http://"):
            yield _error("link is plain http: (use https)", where)
        elif not url.startswith("https://"):
            yield _error("link is not absolute", where)
        elif url.startswith(articles) and not slug_exists(url[len(articles) :].split("?")[0]):
            yield _error("link to an article the archive does not have", where)


def _images(root: lxml_html.HtmlElement) -> Iterator[Finding]:
    for image in root.iter("img"):
        where = f"<img src={image.get('src', '')!r}>"
        if image.get("alt") is None:
            yield _error("image has no alt text", where)
        elif not image.get("alt", "").strip():
            yield Finding(Severity.WARNING, "image has an empty alt text", where)
        for size in ("width", "height"):
            if not (image.get(size) or "").isdigit():
                yield _error(f"image has no pixel {size}", where)


def _dark_selectors(root: lxml_html.HtmlElement) -> list[str]:
    """Selectors that set a text colour inside @media (prefers-color-scheme: dark)."""
    selectors = []
    for style in root.iter("style"):
        css = style.text or ""
        for media in DARK_MEDIA.finditer(css):
            block = css[media.end() : _block_end(css, media.end())]
            for rule in RULE.finditer(block):
                if INLINE_COLOR.search(rule.group(2).strip()):
                    selectors.extend(s.strip() for s in rule.group(1).split(",") if s.strip())
    return selectors


def _block_end(css: str, start: int) -> int:
    depth = 1
    for index in range(start, len(css)):
        depth += {"{": 1, "}": -1}.get(css[index], 0)
        if depth == 0:
            return index
    return len(css)


def _colours(root: lxml_html.HtmlElement) -> Iterator[Finding]:
    # Elements themselves, not id()s: lxml reuses a node's proxy only while it is referenced.
    paired: set[lxml_html.HtmlElement] = set()
    for selector in _dark_selectors(root):
        try:
            paired.update(CSSSelector(selector)(root))
        except SelectorError:  # a selector cssselect cannot evaluate (:hover …) pairs nothing
            continue
    unpaired: dict[str, int] = {}
    for element in root.iter():
        colour = (
            INLINE_COLOR.search(element.get("style") or "")
            if isinstance(element.tag, str)
            else None
        )
        if colour and element not in paired:
            key = f"{colour.group(1).strip()} on <{element.tag} class={element.get('class', '')!r}>"
            unpaired[key] = unpaired.get(key, 0) + 1
    for key, count in unpaired.items():
        yield _error(f"text colour {key} has no dark-mode pair ({count}×)", where="html")


def check(issue: Issue, links: Links, slug_exists: Callable[[str], bool]) -> list[Finding]:
    """Every finding for one frozen issue, errors first."""
    findings = list(_placeholders(issue))
    size = len(issue.html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        findings.append(_error(f"HTML is {size / 1024:.1f} KB; Gmail clips above 102 KB", "html"))
    if len(issue.subject) > SUBJECT_CHARS:
        findings.append(_error(f"subject is {len(issue.subject)} characters (max 78)", "subject"))
    findings.extend(_editing_marks(issue.subject, "subject"))
    findings.extend(_editing_marks(issue.text, "text"))
    try:
        root = lxml_html.document_fromstring(issue.html)
    except ParserError:
        return [*findings, _error("HTML does not parse", "html")]
    findings.extend(_editing_marks(_visible_text(root), "html"))
    findings.extend(_links(root, links, slug_exists))
    findings.extend(_images(root))
    findings.extend(_colours(root))
    return sorted(findings, key=lambda f: f.severity != Severity.ERROR)
