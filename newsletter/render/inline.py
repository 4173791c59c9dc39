"""CSS inlining, once per issue, offline: the one place premailer is called.

Before premailer sees the page, every `<link>` element and every CSS `@import`
is removed, and premailer runs with the network and local files off, so no
template or article can make rendering fetch anything. Plain rules become style
attributes; `@media` and `:root` rules stay in a `<style>` block (premailer's
"leftover" rules) for the clients that honour responsive and dark-mode CSS.
"""

from __future__ import annotations

import logging
import re

from lxml import etree
from premailer import Premailer

IMPORT = re.compile(r"@import\b[^;]*;?", re.IGNORECASE)


def _remove(element: etree._Element) -> None:
    """Take an element out, keeping the text that followed it."""
    parent = element.getparent()
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _offline(tree: etree._ElementTree) -> None:
    """Drop what could fetch anything, and any <style> outside <head> (the theme's is in it)."""
    for element in list(tree.iter("link", "style")):
        parent = element.getparent()
        if parent is None:
            continue
        if element.tag == "link" or parent.tag != "head":
            _remove(element)
        elif element.text:
            element.text = IMPORT.sub("", element.text)


def inline(page: str) -> str:
    """The page with its CSS inlined; deterministic for the same input."""
    tree = etree.fromstring(page, etree.HTMLParser()).getroottree()
    _offline(tree)
    Premailer(
        tree.getroot(),
        allow_network=False,
        allow_loading_external_files=False,
        strip_important=False,
        remove_classes=False,
        disable_basic_attributes=["width", "height"],  # keep images' pixel sizes for Outlook
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()
    return etree.tostring(tree, method="html", encoding="unicode", doctype="<!DOCTYPE html>")
