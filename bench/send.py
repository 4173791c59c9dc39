"""bench/send: our sender against Postfix's smtp-source, both into smtp-sink, paired in one run.

    apt-get install -y postfix     # for smtp-sink and smtp-source; no daemon is started
    python bench/send.py [--subscribers 100000] [--concurrency 8] [--big 1000000]

Prints messages/s of smtp-source and of `send_issue` at the same concurrency and
message size, and their ratio; the naive way (an EmailMessage per subscriber,
smtplib, a connection per message) on 5 000 subscribers; and the peak resident
memory of a send process at `--subscribers` and at `--big` subscribers (the
ledger is streamed, so it should stay flat). Each send runs in a fresh child
process so its peak RSS is its own. On a shared 2-core machine figures swing by
±40 % between runs: read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from newsletter import app as app_module
from newsletter import config
from newsletter.delivery.message import IssueMessages
from newsletter.delivery.send import send_issue
from newsletter.models import SubscriberStatus
from newsletter.store import db, issues
from newsletter.store import subscribers as subscriber_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SENDER = "notes@example.org"
CHUNK = 20_000
TOML = """demo = true
[site]
title = "Bench Notes"
base_url = "https://notes.example.org"
[sender]
name = "Bench Notes"
address = "notes@example.org"
[smtp]
port = {port}
pool_size = {concurrency}
messages_per_connection = 100000
timeout = 30
[[lists]]
name = "weekly"
title = "Bench Weekly"
"""


def digest_html(articles: int = 12) -> str:
    """A digest shaped like ours after premailer: inline styles, long lines, markers."""
    block = (
        '<tr><td style="padding:16px 24px;font-family:Georgia,serif;color:#1a1a1a">'
        '<h2 style="font-size:20px;margin:0 0 8px 0"><a href="https://notes.example.org/'
        'articles/a-{n}" style="color:#0b5394;text-decoration:none">Article {n}: what the '
        'new guidance means for you</a></h2><p style="font-size:15px;line-height:1.5;'
        'margin:0">' + "Plain-language summary of the research and what changes. " * 12 + "</p>"
        "</td></tr>"
    )
    body = "".join(block.format(n=n) for n in range(articles))
    return (
        '<!doctype html><html><body style="margin:0;background:#f4f4f4"><table role="presentation"'
        ' width="100%">' + "<tr><td>Hello @@nl:name@@,</td></tr>" + body + '<tr><td><a href="'
        '@@nl:unsubscribe_url@@">Unsubscribe</a> · <a href="@@nl:preferences_url@@">'
        "Preferences</a></td></tr></table></body></html>"
    )


def digest_text(articles: int = 12) -> str:
    item = "Article {n}: what the new guidance means for you\nhttps://notes.example.org/a-{n}\n\n"
    return (
        "Hello @@nl:name@@,\n\n"
        + "".join(item.format(n=n) for n in range(articles))
        + "Unsubscribe: @@nl:unsubscribe_url@@\n"
    )


def instance(folder: Path, port: int, concurrency: int, subscribers: int) -> tuple[Path, int]:
    """A fresh instance with `subscribers` active members and one issue; (toml, issue id)."""
    folder.mkdir(parents=True)
    toml = folder / "newsletter.toml"
    toml.write_text(TOML.format(port=port, concurrency=concurrency), encoding="utf-8")
    app = app_module.build(config.load(toml))
    db.migrate(app.engine)
    with app.engine.begin() as conn:
        list_id = issues.ensure_list(conn, "weekly", "Bench Weekly", NOW)
        for start in range(0, subscribers, CHUNK):
            rows = [
                {
                    "email": f"reader{n}@example.com",
                    "email_key": f"reader{n}@example.com",
                    "name": f"Reader {n}",
                    "status": SubscriberStatus.ACTIVE,
                    "preferences": {},
                    "created_at": NOW,
                    "soft_bounces": 0,
                }
                for n in range(start, min(start + CHUNK, subscribers))
            ]
            ids = subscriber_store.insert_many(conn, rows).values()
            subscriber_store.add_memberships(conn, [(i, list_id) for i in ids], NOW)
        issue = issues.create(
            conn,
            list_id=list_id,
            number=1,
            subject="Bench Weekly #1: what the new guidance means",
            window_start=None,
            window_end=NOW,
            html=digest_html(),
            text=digest_text(),
            articles=[],
            now=NOW,
        )
    app.close()
    return toml, issue.id


def message_size(toml: Path, issue_id: int) -> int:
    app = app_module.build(config.load(toml))
    with app.engine.connect() as conn:
        issue = issues.get(conn, issue_id)
    size = len(IssueMessages(app, issue).build(1, "reader1@example.com", "Reader 1", NOW).data)
    app.close()
    return size


def child_send(toml: Path, issue_id: int) -> None:
    """Runs in the measured child process: one send, its count and time on stdout."""
    app = app_module.build(config.load(toml))
    started = time.perf_counter()
    summary = send_issue(app, issue_id)
    elapsed = time.perf_counter() - started
    print(json.dumps({"sent": summary.sent, "failed": summary.failed, "seconds": elapsed}))


def measured_send(toml: Path, issue_id: int) -> tuple[dict[str, float], float]:
    """(child's report, its peak RSS in MB)."""
    here = Path(__file__).resolve()
    child = subprocess.Popen(
        [sys.executable, str(here), "--child", str(toml), str(issue_id)], stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"send child failed with {child.returncode}")
    return json.loads(out), usage.ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sink(port: int) -> subprocess.Popen[bytes]:
    """smtp-sink on a free port (it binds with SO_REUSEPORT: a leftover sink would share it)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is already in use")
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "1024"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return sink
        time.sleep(0.05)
    sink.kill()
    raise SystemExit("smtp-sink did not start")


def smtp_source(port: int, concurrency: int, count: int, size: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            *("smtp-source", "-d", "-s", str(concurrency), "-m", str(count), "-l", str(size)),
            *("-f", SENDER, "-t", "reader@example.com", f"127.0.0.1:{port}"),
        ],
        check=True,
    )
    return count / (time.perf_counter() - started)


def naive(port: int, count: int) -> float:
    """The rss2email way: build an EmailMessage and open a connection for every subscriber."""
    html, text = digest_html(), digest_text()
    started = time.perf_counter()
    for n in range(count):
        message = EmailMessage()
        message["From"] = f"Bench Notes <{SENDER}>"
        message["To"] = f"Reader {n} <reader{n}@example.com>"
        message["Subject"] = "Bench Weekly #1: what the new guidance means"
        message.set_content(text.replace("@@nl:name@@", f"Reader {n}"))
        message.add_alternative(html.replace("@@nl:name@@", f"Reader {n}"), subtype="html")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(message)
    return count / (time.perf_counter() - started)


def check_tools() -> None:
    missing = [tool for tool in ("smtp-sink", "smtp-source") if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: apt-get install -y postfix")
    if subprocess.run(["postfix", "status"], capture_output=True, check=False).returncode == 0:
        subprocess.run(["postfix", "stop"], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--big", type=int, default=1_000_000, help="subscribers for the RSS run")
    parser.add_argument("--naive", type=int, default=5_000)
    parser.add_argument("--child", nargs=2, metavar=("TOML", "ISSUE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_send(Path(args.child[0]), int(args.child[1]))
        return
    check_tools()
    port, c = free_port(), args.concurrency
    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    sink = start_sink(port)
    try:
        toml, issue_id = instance(work / "main", port, c, args.subscribers)
        size = message_size(toml, issue_id)
        theirs = smtp_source(port, c, args.subscribers, size)
        report, rss = measured_send(toml, issue_id)
        ours = report["sent"] / report["seconds"]
        slow = naive(port, args.naive)
        print(f"message size {size} bytes, concurrency {c}, sink: smtp-sink")
        print(f"smtp-source : {args.subscribers:>9} msgs  {theirs:8.0f} msg/s")
        print(
            f"ours        : {int(report['sent']):>9} msgs  {ours:8.0f} msg/s  "
            f"ratio {ours / theirs:.2f} of smtp-source  (failed {int(report['failed'])})"
        )
        print(
            f"naive       : {args.naive:>9} msgs  {slow:8.0f} msg/s  ours/naive {ours / slow:.1f}x"
        )
        big_toml, big_issue = instance(work / "big", port, c, args.big)
        big_report, big_rss = measured_send(big_toml, big_issue)
        print(f"peak RSS    : {args.subscribers:>9} subscribers {rss:7.1f} MB")
        print(
            f"peak RSS    : {args.big:>9} subscribers {big_rss:7.1f} MB  "
            f"(sent {int(big_report['sent'])}, {big_report['sent'] / big_report['seconds']:.0f}"
            f" msg/s)  ratio {big_rss / rss:.2f}"
        )
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
