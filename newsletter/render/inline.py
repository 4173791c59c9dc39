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


def _offline(tree: etree._ElementTree) -> None:
    """Drop what could make a CSS engine go to the network or the disk."""
    for link in tree.iter("link"):
        link.getparent().remove(link)
    for style in tree.iter("style"):
        if style.text:
            style.text = IMPORT.sub("", style.text)


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
