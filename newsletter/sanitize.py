"""Making untrusted text and HTML safe to store and to pass on to feeds and emails.

Every article field comes from outside (a Markdown file, a remote feed). Text
loses the characters XML 1.0 cannot carry; HTML keeps only an allow-list of
tags and attributes, with every URL absolute and http(s)/mailto only; and every
field is passed through `placeholders.neutralise`, so an article can never
smuggle a per-subscriber marker (``@@nl:email@@``) into a digest.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import nh3

from newsletter.placeholders import neutralise

NOT_XML_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# C0 and C1 controls and the Unicode line separators: what must never reach a header or a
# one-line field. A regex class body, so other checks can build on the same set.
CONTROL_CHARACTERS = "\x00-\x1f\x7f-\x9f\u2028\u2029"
CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]+")
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
WEB_SCHEMES = frozenset({"http", "https"})
# An http(s) URL with a plain host and no character urljoin would change or reject.
ALREADY_ABSOLUTE = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][^\s\x00-\x20\x7f\"'<>\\\[\]`{}|^]*)?\Z"
)
TAGS = frozenset(
    {
        *("a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dl"),
        *("dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i"),
        *("img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span"),
        *("strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u"),
        "ul",
    }
)
DROPPED_WITH_CONTENT = frozenset({"script", "style", "template"})
ATTRIBUTES = {
    "*": {"lang", "dir"},
    "a": {"href", "title"},
    "abbr": {"title"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
NUMBER_ATTRIBUTES = frozenset({"width", "height", "colspan", "rowspan", "start"})
REL = "noopener noreferrer"
BLOCKS = frozenset(
    {"p", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}
    | {"pre", "figcaption", "dd", "dt", "div", "table", "ul", "ol", "hr"}
)
EXCERPT_LENGTH = 160
SLUG_LENGTH = 80
APOSTROPHES = re.compile("['’ʼ]")
NOT_SLUG = re.compile(r"[\W_]+")


def one_line(text: str) -> str:
    """Control characters (CR, LF, tabs …) out, whitespace collapsed: safe for a header."""
    return " ".join(CONTROL.sub(" ", text).split())


def clean_text(value: str) -> str:
    """Plain text safe for XML and for templates: no control characters, no markers."""
    return neutralise(NOT_XML_CHARACTER.sub("", value))


def absolute_url(value: str, base: str, schemes: frozenset[str] = LINK_SCHEMES) -> str:
    """`value` resolved against `base`, or "" when its scheme is not allowed (javascript:…)."""
    if ALREADY_ABSOLUTE.match(value) and value[: value.index(":")].lower() in schemes:
        return neutralise(value)  # what urljoin would return, without its cost (feeds re-check)
    try:
        resolved = urljoin(base, NOT_XML_CHARACTER.sub("", value).strip())
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:  # e.g. "http://[::1": an invalid IPv6 host
        return ""
    return neutralise(resolved) if scheme in schemes else ""


def clean_html(html: str, base: str, page: str = "") -> str:
    """Body HTML reduced to the allow-list, URLs absolute against `base`, links noopener.

    A bare "#fragment" points into the article itself, so it resolves against `page`.
    """

    def keep(_tag: str, attribute: str, value: str) -> str | None:
        if attribute in URL_ATTRIBUTES:
            within = value.strip().startswith("#") and page
            return absolute_url(value, page if within else base) or None
        if attribute in NUMBER_ATTRIBUTES:
            return value if value.strip().isdigit() else None
        return value

    cleaned = nh3.clean(
        NOT_XML_CHARACTER.sub("", html),
        tags=set(TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        attribute_filter=keep,
        url_schemes=set(LINK_SCHEMES),
        link_rel=REL,
        strip_comments=True,
    )
    return clean_text(cleaned.strip())


class _TextCollector(HTMLParser):
    """Text of an HTML fragment, with a space wherever a block ends (so words never fuse)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self.parts.append(" ")


def html_to_text(html: str) -> str:
    """The readable text of (already sanitised) HTML on one line."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return " ".join("".join(collector.parts).split())


def excerpt(text: str, limit: int = EXCERPT_LENGTH) -> str:
    """About `limit` characters of `text`, cut at a word boundary with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:–—-.") + "…"


def slugify(text: str, limit: int = SLUG_LENGTH) -> str:
    """A URL name from a title: accents folded, lowercase, words joined by hyphens.

    Letters of other scripts are kept (the URL quotes them); "" when nothing is left.
    """
    folded = unicodedata.normalize("NFKD", APOSTROPHES.sub("", text))
    folded = "".join(char for char in folded if not unicodedata.combining(char))
    slug = NOT_SLUG.sub("-", folded.lower()).strip("-")
    if len(slug) > limit:
        slug = slug[:limit]
        slug = slug.rsplit("-", 1)[0] if "-" in slug else slug
    return slug
