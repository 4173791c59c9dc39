"""Subscribers: CSV import (bad rows, encodings, dedupe, suppression), export, forget, show, CLI."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.app import App
from newsletter.cli import subscribers as subscribers_cli
from newsletter.errors import InputError, NotFound
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.store import subscribers as store
from newsletter.subscribers import consent, csvfile, export
from newsletter.subscribers.csvfile import RowNote
from newsletter.tokens import Purpose

Active = SubscriberStatus.ACTIVE


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def everyone(app: App) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """email -> (name, status, lists): what a user would see in `subscribers list`."""
    with app.engine.connect() as conn:
        return {s.email: (s.name, str(s.status), s.lists) for s in store.stream(conn)}


def run_import(app: App, path: Path, **options: object) -> tuple[csvfile.ImportSummary, list[str]]:
    notes: list[RowNote] = []
    summary = csvfile.import_csv(app, path, report=notes.append, **options)  # type: ignore[arg-type]
    return summary, [str(note) for note in notes]


def test_the_sample_file_imports_cleanly_and_a_second_run_adds_nothing(
    app: App, instance: Path
) -> None:
    summary, notes = run_import(app, instance / "subscribers.csv")
    assert notes == []
    assert (summary.added, summary.rejected) == (12, 0)
    people = everyone(app)
    assert people["jose.munoz@example.com"] == ("José Muñoz", "active", ("ms-monthly", "weekly"))
    assert people["tom.baker@example.org"][1] == "unsubscribed"
    again, notes = run_import(app, instance / "subscribers.csv")
    assert (again.added, again.merged, notes) == (0, 12, [])
    assert everyone(app) == people


def test_bad_rows_are_reported_by_row_and_reason_while_good_rows_import(
    app: App, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "mixed.csv",
        "email,name,lists,status,created_at\n"
        "good@example.com,Good,weekly,,\n"
        "no-at-sign,Bad,weekly,,\n"
        "GOOD@example.COM,Again,weekly,,\n"
        "other@example.org,Other,nonexistent,,\n"
        "late@example.org,Late,weekly,sleeping,\n"
        "when@example.org,When,weekly,,last tuesday\n"
        '"ctl@example.org","Evil\x07Name",weekly,,\n'
        "\n"
        "fine@example.org,Fine,weekly|ms-monthly,active,2026-01-02\n",
    )
    summary, notes = run_import(app, path)
    assert [note.split(":")[0] for note in notes] == [f"row {n}" for n in (3, 4, 5, 6, 7, 8)]
    assert "not a valid email address" in notes[0]
    assert "duplicate of row 2" in notes[1]
    assert "unknown list 'nonexistent'" in notes[2]
    assert "unknown status 'sleeping'" in notes[3]
    assert "not an ISO 8601 date" in notes[4]
    assert "control characters" in notes[5]
    assert (summary.added, summary.rejected) == (2, 6)
    assert set(everyone(app)) == {"good@example.com", "fine@example.org"}
    with app.engine.connect() as conn:
        fine = store.by_key(conn, "fine@example.org")
    assert fine is not None and fine.created_at is not None
    assert fine.created_at.isoformat() == "2026-01-02T00:00:00+00:00"


def test_bom_semicolons_aliases_and_pipes(app: App, tmp_path: Path) -> None:
    path = write(
        tmp_path / "excel.csv",
        "\ufeffE-Mail;Full Name;Groups;Notes\r\n"
        "ada@example.com;Ada Lovelace;weekly|ms-monthly;likes maths\r\n"
        '"grace@example.org";"Hopper; Grace";"weekly;ms-monthly";\r\n'
        "ivan@bücher.example;Иван;weekly;\r\n",
    )
    summary, notes = run_import(app, path)
    assert notes == [] and summary.added == 3
    assert summary.ignored_columns == ("Notes",)
    people = everyone(app)
    assert people["ada@example.com"] == ("Ada Lovelace", "active", ("ms-monthly", "weekly"))
    assert people["grace@example.org"][0] == "Hopper; Grace"
    assert people["ivan@xn--bcher-kva.example"][0] == "Иван"


def test_another_encoding_needs_the_flag_and_without_it_nothing_is_stored(
    app: App, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "legacy.csv", "email,name,lists\njose@example.com,José Muñoz,weekly\n", "cp1252"
    )
    with pytest.raises(InputError, match="--encoding"):
        run_import(app, path)
    assert everyone(app) == {}
    summary, _ = run_import(app, path, encoding="cp1252")
    assert summary.added == 1
    assert everyone(app)["jose@example.com"][0] == "José Muñoz"


def test_file_level_problems_are_one_line_and_store_nothing(app: App, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"headless.csv:1: no email column"):
        run_import(app, write(tmp_path / "headless.csv", "ada@example.com,Ada\n"))
    with pytest.raises(InputError, match="cannot read the file"):
        run_import(app, tmp_path / "missing.csv")
    with pytest.raises(InputError, match="unknown encoding"):
        run_import(app, write(tmp_path / "a.csv", "email\n"), encoding="klingon")
    assert everyone(app) == {}


def test_a_dry_run_counts_but_stores_nothing(app: App, instance: Path) -> None:
    summary, _ = run_import(app, instance / "subscribers.csv", dry_run=True)
    assert summary.dry_run and summary.added == 12
    assert everyone(app) == {}


def test_duplicates_are_found_across_batches(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csvfile, "BATCH", 2)
    rows = "".join(f"p{i}@example.com,P{i},weekly\n" for i in range(5))
    path = write(tmp_path / "dups.csv", "email,name,lists\n" + rows + "P1@EXAMPLE.com,Dup,weekly\n")
    summary, notes = run_import(app, path)
    assert notes == ["row 7: duplicate of row 3 (P1@example.com)"]
    assert summary.added == 5
    assert everyone(app)["p1@example.com"][0] == "P1"


@pytest.mark.parametrize(
    "status", [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED]
)
def test_suppression_wins_over_a_reimport(
    app: App, tmp_path: Path, status: SubscriberStatus
) -> None:
    run_import(
        app, write(tmp_path / "a.csv", f"email,lists,status\nleft@example.com,weekly,{status}\n")
    )
    summary, notes = run_import(
        app,
        write(tmp_path / "b.csv", "email,name,lists,status\nLeft@example.com,L,weekly,active\n"),
    )
    assert notes == [f"row 2: kept {status}: suppression wins over the file"]
    assert summary.suppressed == 1
    assert everyone(app)["left@example.com"] == ("", str(status), ("weekly",))


def test_a_file_may_suppress_an_active_address_and_confirm_a_pending_one(
    app: App, tmp_path: Path
) -> None:
    first = "email,lists,status\nstay@example.com,weekly,active\nwait@example.com,weekly,pending\n"
    run_import(app, write(tmp_path / "a.csv", first))
    second = "email,lists,status\nstay@example.com,weekly,bounced\nwait@example.com,ms-monthly,\n"
    run_import(app, write(tmp_path / "b.csv", second))
    people = everyone(app)
    assert people["stay@example.com"][1] == "bounced"
    assert people["wait@example.com"][1:] == ("active", ("ms-monthly", "weekly"))


def test_a_forgotten_address_is_never_re_added_by_import(app: App, instance: Path) -> None:
    run_import(app, instance / "subscribers.csv")
    assert consent.forget(app, "ADA.lovelace@example.com") is True
    assert "ada.lovelace@example.com" not in everyone(app)
    shown = consent.show(app, "ada.lovelace@example.com")
    assert shown["suppressed"] is True and set(shown) == {"email_hash", "suppressed"}
    summary, notes = run_import(app, instance / "subscribers.csv")
    assert notes == ["row 2: address was erased on request; not re-added"]
    assert "ada.lovelace@example.com" not in everyone(app)
    assert summary.suppressed == 1


def test_forget_also_blocks_an_address_never_stored(app: App, tmp_path: Path) -> None:
    assert consent.forget(app, "stranger@example.org") is False
    _, notes = run_import(app, write(tmp_path / "a.csv", "email\nstranger@example.org\n"))
    assert notes == ["row 2: address was erased on request; not re-added"]


def test_show_returns_everything_held_about_one_person(app: App, instance: Path) -> None:
    run_import(app, instance / "subscribers.csv")
    shown = consent.show(app, "Jose.Munoz@example.com")
    json.dumps(shown)  # JSON-ready
    assert shown["name"] == "José Muñoz"
    assert shown["lists"] == ["ms-monthly", "weekly"]
    assert shown["created_at"] == "2026-04-01T08:30:00+00:00"
    assert shown["deliveries"] == [] and shown["bounces"] == []
    with pytest.raises(NotFound):
        consent.show(app, "nobody@example.com")


FORMULAS = ['=HYPERLINK("http://x.example","click")', "+1", "-2", "@SUM(A1)"]


def test_export_makes_formula_cells_safe_and_reimports_unchanged(app: App, tmp_path: Path) -> None:
    with (tmp_path / "in.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "lists"])
        writer.writerows([f"f{i}@example.com", name, "weekly"] for i, name in enumerate(FORMULAS))
    run_import(app, tmp_path / "in.csv")
    assert sorted(name for name, _, _ in everyone(app).values()) == sorted(FORMULAS)
    out = io.StringIO()
    assert export.export_csv(app, out) == len(FORMULAS)
    exported = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["name"] for row in exported] == ["'" + name for name in FORMULAS]
    assert all(not cell.startswith(tuple("=+-@\t\r")) for row in exported for cell in row.values())
    before = everyone(app)
    write(tmp_path / "out.csv", out.getvalue())
    summary, notes = run_import(app, tmp_path / "out.csv")
    assert notes == [] and summary.merged == len(FORMULAS)
    assert everyone(app) == before


def test_export_guards_tab_and_carriage_return_too() -> None:
    odd = Subscriber(id=1, email="-x@example.com", name="\tTab", status=Active)
    cells = export.export_row(odd)
    assert cells[:3] == ["'-x@example.com", "'\tTab", "active"]
    assert export.safe_cell("\rCR") == "'\rCR"
    assert export.safe_cell("plain") == "plain"


def test_export_of_one_list(app: App, instance: Path) -> None:
    run_import(app, instance / "subscribers.csv")
    out = io.StringIO()
    count = export.export_csv(app, out, list_name="ms-monthly")
    emails = [row["email"] for row in csv.DictReader(io.StringIO(out.getvalue()))]
    assert count == len(emails) == 6
    assert "grace.hopper@example.org" not in emails


def cli(instance: Path, *argv: str) -> int:
    """Run one of this module's commands the way `newsletter` does."""
    top = argparse.ArgumentParser()
    top.add_argument("--config")
    subscribers_cli.register(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(["--config", str(instance / "newsletter.toml"), *argv])
    return int(args.run(args))


@pytest.fixture
def cli_instance(app: App, instance: Path) -> Iterator[Path]:
    yield instance  # `app` has migrated the instance's database


def test_cli_import_report_export_show_forget(
    cli_instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "bad.csv", "email,lists\nok@example.com,weekly\nbroken,weekly\n")
    report = tmp_path / "report.txt"
    assert cli(cli_instance, "subscribers", "import", str(bad), "--report", str(report)) == 1
    out = capsys.readouterr().out
    assert "row 3: email: not a valid email address" in out
    assert "imported: 2 rows, 1 new" in out
    assert report.read_text(encoding="utf-8").startswith("row 3: email:")
    target = tmp_path / "all.csv"
    assert cli(cli_instance, "subscribers", "export", str(target)) == 0
    assert "ok@example.com" in target.read_text(encoding="utf-8")
    capsys.readouterr()
    assert cli(cli_instance, "subscribers", "show", "ok@example.com") == 0
    assert json.loads(capsys.readouterr().out)["lists"] == ["weekly"]
    assert cli(cli_instance, "subscribers", "forget", "ok@example.com") == 0
    assert cli(cli_instance, "subscribers", "list") == 0
    assert "ok@example.com" not in capsys.readouterr().out.split("\n", 1)[1]


def test_cli_dry_run_and_default_list(
    cli_instance: Path, app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "plain.csv", "email\nx@example.com\n")
    assert cli(cli_instance, "subscribers", "import", str(path), "--dry-run") == 0
    assert "would import (dry run): 1 rows, 1 new" in capsys.readouterr().out
    assert everyone(app) == {}
    assert cli(cli_instance, "subscribers", "import", str(path), "--list", "ms-monthly") == 0
    assert everyone(app)["x@example.com"][2] == ("ms-monthly",)


def test_a_forgotten_person_may_opt_in_again_themselves(app: App, tmp_path: Path) -> None:
    consent.forget(app, "returning@example.com")
    pending = consent.request(app, "returning@example.com", "Back", ["weekly"], "192.0.2.7")
    assert pending is not None and pending.status == SubscriberStatus.PENDING
    token = app.tokens().make(Purpose.CONFIRM, pending.id, pending.email)
    confirmed = consent.confirm(app, token, "192.0.2.7")
    assert (confirmed.status, confirmed.confirmed_ip) == (Active, "192.0.2.7")
    summary, notes = run_import(app, write(tmp_path / "a.csv", "email\nreturning@example.com\n"))
    assert notes == [] and summary.merged == 1  # their own opt-in lifted the suppression
