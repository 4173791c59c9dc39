"""The Markdown source: the sample content loads; each bad file is named by file:line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from newsletter.errors import SourceError
from newsletter.sources import markdown

REPO = Path(__file__).resolve().parent.parent

GOOD = """---
title: "Q&A: <b> tags & you"
date: 2026-09-01 09:30
source: "Source: Riverbend Specialty Pharmacy"
categories: [research]
references:
  - "Smith J. A study. J Test 2026;1(1):1-2."
---
Body with **bold** and a table:

| a | b |
|---|---|
| 1 | 2 |
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def front(*lines: str, body: str = "Body.\n") -> str:
    return "---\n" + "\n".join(lines) + "\n---\n" + body


def test_sample_content_loads_without_errors() -> None:
    batch = markdown.read_folder(REPO / "content")
    assert batch.errors == ()
    assert len(batch.entries) >= 10
    tagged = [e for e in batch.entries if "multiple-sclerosis" in e.categories]
    assert len(tagged) >= 4
    assert sum(e.published.year == 2028 for e in batch.entries) == 2
    podcast = [e for e in batch.entries if e.enclosure]
    assert podcast[0].enclosure.type == "audio/mpeg"  # type: ignore[union-attr]
    assert all(e.references and e.body_html.count("<p>") >= 4 for e in batch.entries)


def test_fields_guid_and_attribution(tmp_path: Path) -> None:
    entry = markdown.read_file(write(tmp_path, "q-and-a.md", GOOD))
    assert entry.guid == "q-and-a"  # the file stem, when no id is set
    assert entry.title == "Q&A: <b> tags & you"
    assert entry.published == datetime(2026, 9, 1, 9, 30)  # naive: the site zone applies later
    assert entry.author == "Riverbend Specialty Pharmacy"
    assert entry.where == "content/q-and-a.md"
    assert "<strong>bold</strong>" in entry.body_html
    assert "<table>" in entry.body_html
    assert entry.references == ("Smith J. A study. J Test 2026;1(1):1-2.",)


def test_id_slug_offset_and_author_with_source(tmp_path: Path) -> None:
    text = front(
        "title: T",
        "date: 2026-09-01T09:30:00-04:00",
        "updated: 2026-09-02",
        "id: 42",
        "slug: my-slug",
        "author: Dana",
        "source: Riverbend",
        "image: {url: /media/a.png, alt: A, width: 10, height: 20}",
        "enclosure: {url: /a.mp3, length: 100, type: audio/mpeg, duration: 61}",
    )
    entry = markdown.read_file(write(tmp_path, "x.md", text))
    assert entry.guid == "42" and entry.slug == "my-slug"
    assert entry.published == datetime(2026, 9, 1, 9, 30, tzinfo=timezone(timedelta(hours=-4)))
    assert entry.published.astimezone(UTC).hour == 13
    assert entry.updated == datetime(2026, 9, 2)
    assert entry.author == "Dana (Riverbend)"
    assert entry.image is not None and entry.image.width == 10
    assert entry.enclosure is not None and entry.enclosure.duration == "61"


BAD = [
    ("no front matter", "Just text\n", ":1", "no front matter"),
    ("unclosed", "---\ntitle: T\n", ":1", "not closed"),
    ("bad yaml", front("title: T", "date: 2026-09-01", "categories: [a, b"), ":4", "YAML"),
    ("missing title", front("date: 2026-09-01"), ":1", "title: required"),
    ("missing date", front("title: T", "summary: s"), ":1", "date: required"),
    ("bad date", front("title: T", "date: 2026-13-45"), ":3", "date: not a valid date"),
    ("title number", front("date: 2026-09-01", "title: 1984"), ":3", "text"),
    ("categories text", front("title: T", "date: 2026-09-01", "categories: x"), ":4", "list"),
    ("unknown key", front("title: T", "date: 2026-09-01", "catgories: [a]"), ":4", "unknown"),
    ("duplicate", front("title: T", "title: U", "date: 2026-09-01"), ":3", "dupl"),
    ("list", "---\n- a\n- b\n---\nx\n", ":2", "keys and values"),
    ("bad slug", front("title: T", "date: 2026-09-01", "slug: Not A Slug"), ":4", "slug"),
    (
        "image width",
        front("title: T", "date: 2026-09-01", "image:", "  url: /a.png", "  width: wide"),
        ":6",
        "image.width",
    ),
    (
        "reference item",
        front("title: T", "date: 2026-09-01", "references:", "  - ok", "  - 12"),
        ":6",
        "references: item 2",
    ),
    ("python tag", front("title: !!python/object:os.system x", "date: 2026-09-01"), ":2", "YAML"),
]


@pytest.mark.parametrize(("case", "text", "where", "problem"), BAD, ids=[b[0] for b in BAD])
def test_bad_file_is_named_with_its_line(
    tmp_path: Path, case: str, text: str, where: str, problem: str
) -> None:
    name = case.replace(" ", "-") + ".md"
    write(tmp_path, name, text)
    write(tmp_path, "good.md", GOOD)
    batch = markdown.read_folder(tmp_path)
    assert [e.guid for e in batch.entries] == ["good"]
    (error,) = batch.errors
    assert error.where.startswith(f"content/{name}:")
    assert error.where.endswith(where) and problem in str(error)


def test_yaml_error_points_at_its_line(tmp_path: Path) -> None:
    text = front("title: T", "date: 2026-09-01", "summary: a: b")
    with pytest.raises(SourceError) as caught:
        markdown.read_file(write(tmp_path, "colon.md", text))
    assert caught.value.where == "content/colon.md:4"


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    data = front("title: T", "date: 2026-09-01").encode() + b"caf\xe9\n"
    with pytest.raises(SourceError) as caught:
        markdown.read_file(write(tmp_path, "latin1.md", data))
    assert caught.value.where == "content/latin1.md:6"
    assert "UTF-8" in str(caught.value)


def test_too_large_file_is_refused_unread(tmp_path: Path) -> None:
    text = front("title: T", "date: 2026-09-01", body="x" * (markdown.MAX_BYTES + 1))
    with pytest.raises(SourceError) as caught:
        markdown.read_file(write(tmp_path, "huge.md", text))
    assert caught.value.where == "content/huge.md:1" and "too large" in str(caught.value)


def test_missing_folder_is_one_error(tmp_path: Path) -> None:
    batch = markdown.read_folder(tmp_path / "nowhere", label="nowhere")
    assert batch.entries == ()
    assert [e.where for e in batch.errors] == ["nowhere"]


def test_alias_bomb_is_bounded(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    text = front("title: T", "date: 2026-09-01", *lines)
    with pytest.raises(SourceError) as caught:
        markdown.read_file(write(tmp_path, "bomb.md", text))
    assert "a0: unknown key" in str(caught.value)
