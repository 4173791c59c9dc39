"""Benchmark: CSV import of many subscribers, ours (streamed) against a load-it-all baseline.

Run by hand: `python bench/import_subscribers.py [--rows 1000000]`.

Ours is `newsletter subscribers import` as a library call: streamed rows, each
checked with email-validator, batched inserts in one transaction, duplicates
checked in the database. The baseline is the naive importer: read every row
into a list with csv.DictReader, validate, then insert them all with one
executemany. Each runs in its own child process on its own SQLite file, so the
peak resident memory (ru_maxrss) of each is its own; the file is written once.
Only the ratios mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from email_validator import validate_email

CONFIG = """demo = true
[[lists]]
name = "weekly"
title = "Weekly"
[[lists]]
name = "ms-monthly"
title = "MS Monthly"
"""


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "lists"])
        for i in range(rows):
            lists = "weekly;ms-monthly" if i % 3 == 0 else "weekly"
            writer.writerow([f"reader{i}@example.com", f"Reader Number {i}", lists])


def ours(folder: Path, data: Path) -> dict[str, float]:
    from newsletter import app as app_module  # noqa: PLC0415 (child process only)
    from newsletter import config  # noqa: PLC0415
    from newsletter.store import db  # noqa: PLC0415
    from newsletter.subscribers import csvfile  # noqa: PLC0415

    (folder / "newsletter.toml").write_text(CONFIG, encoding="utf-8")
    app = app_module.build(config.load(folder / "newsletter.toml"))
    db.migrate(app.engine)
    summary = csvfile.import_csv(app, data)
    return {"added": summary.added}


def baseline(folder: Path, data: Path) -> dict[str, float]:
    with data.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    checked = [
        (validate_email(row["email"], check_deliverability=False).normalized, row["name"])
        for row in rows
    ]
    connection = sqlite3.connect(folder / "naive.db")
    connection.execute("CREATE TABLE subscribers (email TEXT UNIQUE, name TEXT)")
    connection.executemany("INSERT OR IGNORE INTO subscribers VALUES (?, ?)", checked)
    connection.commit()
    return {"added": len(checked)}


def child(which: str, folder: Path, data: Path) -> None:
    started = time.perf_counter()
    result = {"ours": ours, "baseline": baseline}[which](folder, data)
    result["seconds"] = time.perf_counter() - started
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run(which: str, data: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, __file__, "--child", which, folder, str(data)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3, metavar=("WHICH", "FOLDER", "DATA"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "subscribers.csv"
        write_file(data, args.rows)
        mine, theirs = run("ours", data), run("baseline", data)
    for name, result in (("ours", mine), ("baseline", theirs)):
        rate = result["added"] / result["seconds"]
        print(f"{name:>8}: {args.rows} rows, {rate:,.0f} rows/s, peak {result['peak_mb']:.0f} MB")
    print(
        f"   ratio: time ours/baseline {mine['seconds'] / theirs['seconds']:.2f}, "
        f"peak memory ours/baseline {mine['peak_mb'] / theirs['peak_mb']:.2f}"
    )


if __name__ == "__main__":
    main()
