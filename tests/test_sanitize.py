"""Text and HTML cleaning: excerpts, slugs, absolute URLs, the allow-list."""

from __future__ import annotations

import pytest

from newsletter.sanitize import absolute_url, clean_html, clean_text, excerpt, slugify

SITE = "https://notes.example.org/"


def test_excerpt_cuts_at_a_word_with_an_ellipsis() -> None:
    text = "Fatigue affects up to 80% of patients " * 10
    short = excerpt(text)
    assert short.endswith("…") and len(short) <= 161
    assert text.startswith(short[:-1]) and not short[:-1].endswith(" ")
    assert excerpt("  short\n text ") == "short text"


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("What’s Next for BTK Inhibitors in MS?", "whats-next-for-btk-inhibitors-in-ms"),
        ("Café Über – 2–8 °C", "cafe-uber-2-8-c"),
        ("مرحبا بالعالم", "مرحبا-بالعالم"),
        ("😀 !!", ""),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_long_slug_is_cut_at_a_hyphen() -> None:
    slug = slugify("word " * 40)
    assert len(slug) <= 80 and slug.endswith("word") and "--" not in slug


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/media/a.png", "https://notes.example.org/media/a.png"),
        ("//cdn.example.org/x", "https://cdn.example.org/x"),
        ("mailto:editor@example.org", "mailto:editor@example.org"),
        ("javascript:alert(1)", ""),
        (" JaVaScRiPt:alert(1)", ""),
        ("data:text/html,<b>x</b>", ""),
        ("http://[::1", ""),
    ],
)
def test_absolute_url(url: str, expected: str) -> None:
    assert absolute_url(url, SITE) == expected


def test_clean_text_drops_controls_and_markers() -> None:
    assert clean_text("a\x00b\x1bc\ufffe @@nl:email@@ \t\n😀") == "abc @@ nl:email@@ \t\n😀"


def test_clean_html_keeps_structure_and_drops_the_rest() -> None:
    html = (
        '<table><tr><th colspan="2" style="x">h</th></tr></table>'
        '<p dir="rtl" lang="he">שלום</p><img src="x.png" width="100px" height="50">'
        '<a href="#n" target="_blank">n</a><svg><script>1</script></svg><!-- c -->'
    )
    cleaned = clean_html(html, SITE, page=SITE + "articles/a")
    assert '<th colspan="2">h</th>' in cleaned
    assert '<p dir="rtl" lang="he">שלום</p>' in cleaned
    assert '<img src="https://notes.example.org/x.png" height="50">' in cleaned
    assert '<a href="https://notes.example.org/articles/a#n" rel="noopener noreferrer">' in cleaned
    assert "target" not in cleaned and "svg" not in cleaned and "<!--" not in cleaned
