"""kill -9 in the middle of a send, then send again: everyone gets the issue, duplicates ≤ pool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from helpers_delivery import add_issue, add_subscribers, address
from smtp_servers import counting

from newsletter import app as app_module
from newsletter import config
from newsletter.delivery import send
from newsletter.store import db, ledger

POOL = 4
SUBSCRIBERS = 400
SEND = """
import sys
from pathlib import Path
from newsletter import app, config
from newsletter.delivery.send import send_issue
smtp = {"port": int(sys.argv[2]), "pool_size": int(sys.argv[4]), "lease_seconds": 1, "timeout": 5}
settings = config.load(Path(sys.argv[1]), {"smtp": smtp})
send_issue(app.build(settings), int(sys.argv[3]))
"""


def wait_for(predicate, limit: float = 30.0) -> None:
    """Poll until `predicate()` holds; fail after `limit` seconds instead of hanging."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_killed_send_resumes_without_losing_and_with_bounded_duplicates(instance):
    toml = instance / "newsletter.toml"
    server, handler = counting(pause=0.01)
    with server:
        smtp = {"port": server.port, "pool_size": POOL, "lease_seconds": 1, "timeout": 5}
        app = app_module.build(config.load(toml, {"smtp": smtp}))
        db.migrate(app.engine)
        add_subscribers(app, SUBSCRIBERS)
        issue_id = add_issue(app)
        child = subprocess.Popen(
            [sys.executable, "-c", SEND, str(toml), str(server.port), str(issue_id), str(POOL)],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        try:
            wait_for(lambda: handler.total() >= SUBSCRIBERS // 4 or child.poll() is not None)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL, "the send finished before it was killed"
        before = handler.total()
        summary = send.send_issue(app, issue_id)

    assert before < SUBSCRIBERS
    assert set(handler.received) == {address(n) for n in range(SUBSCRIBERS)}
    duplicates = handler.total() - SUBSCRIBERS
    assert 0 <= duplicates <= POOL
    assert summary.state == "finished"
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sent": SUBSCRIBERS}
    app.close()
