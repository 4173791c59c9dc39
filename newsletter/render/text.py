"""The plain-text part: article HTML to readable text, and lines wrapped at 78 columns.

Links become their URLs in angle brackets (or the bare URL when the link text is
the URL), list items get a dash, paragraphs a blank line. Wrapping never breaks
a word or a URL, so a long URL sits alone on its line rather than cut in two.
"""

from __future__ import annotations

import re
import textwrap

from lxml import html as lxml_html

WIDTH = 78
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
BLOCKS = HEADINGS | {"p", "div", "ul", "ol", "li", "blockquote", "pre", "table", "tr", "hr"}
BULLET = re.compile(r"^(\s*)([-*] |\d+\. )")


def _link(anchor: lxml_html.HtmlElement) -> str:
    label = " ".join(anchor.text_content().split())
    href = (anchor.get("href") or "").strip()
    if not href or label == href:
        return label or href
    return f"{label} <{href}>" if label else href


def _inline_text(element: lxml_html.HtmlElement) -> str:
    """The text of one element, with links spelled out and images as their alt text."""
    parts: list[str] = [element.text or ""]
    for child in element:
        if child.tag in BLOCKS:
            parts.append("\n" + _block_text(child) + "\n")
        elif child.tag == "br":
            parts.append("\n")
        elif child.tag == "a":
            parts.append(_link(child))
        elif child.tag == "img":
            alt = (child.get("alt") or "").strip()
            parts.append(f"[{alt}]" if alt else "")
        else:
            parts.append(_inline_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _block_text(element: lxml_html.HtmlElement) -> str:
    if element.tag == "li":
        return "- " + _inline_text(element).strip()
    if element.tag in ("ul", "ol"):
        items = [child for child in element if child.tag == "li"]
        if element.tag == "ol":
            return "\n".join(
                f"{n}. " + _inline_text(item).strip() for n, item in enumerate(items, 1)
            )
        return "\n".join(_block_text(item) for item in items)
    if element.tag == "blockquote":
        return "\n".join("> " + line for line in _inline_text(element).strip().splitlines())
    text = _inline_text(element)
    if element.tag in HEADINGS:
        return text.strip().upper()
    return text


def text_part(fragment: str) -> str:
    """Readable text of sanitised article HTML: paragraphs apart, links as URLs."""
    if not fragment.strip():
        return ""
    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    raw = _inline_text(root)
    paragraphs = []
    for chunk in re.split(r"\n\s*\n", raw):
        lines = [" ".join(line.split()) for line in chunk.strip().splitlines()]
        kept = [line for line in lines if line]
        if kept:
            paragraphs.append("\n".join(kept))
    return "\n\n".join(paragraphs)


def wrap(text: str, width: int = WIDTH) -> str:
    """Every line at most `width` columns where words allow; list items keep a hanging indent."""
    out: list[str] = []
    for line in text.splitlines():
        if len(line) <= width:
            out.append(line.rstrip())
            continue
        bullet = BULLET.match(line)
        lead = re.match(r"\s*", line).group(0)  # type: ignore[union-attr]
        hang = " " * len(bullet.group(0)) if bullet else lead
        out.extend(
            textwrap.wrap(
                line,
                width=width,
                subsequent_indent=hang,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(out) + "\n"
