"""`newsletter demo`: the whole pipeline on the sample instance, into an embedded SMTP sink."""

from __future__ import annotations

import argparse
import mailbox
from pathlib import Path
from typing import Any

import uvicorn

from newsletter import app as app_module
from newsletter import config, demo, devsmtp
from newsletter.cli.common import add
from newsletter.errors import ConfigError
from newsletter.web.app import create_app


def _sink_overrides(port: int) -> dict[str, dict[str, Any]]:
    """Point [smtp] at the embedded sink whatever the file says."""
    return {"smtp": {"host": devsmtp.LOOPBACK, "port": port, "security": "none", "username": ""}}


def run_demo(args: argparse.Namespace) -> int:
    path = Path(args.config) if args.config else demo.instance_config(Path.cwd())
    settings = config.load(path)
    if not settings.demo:
        raise ConfigError(
            "demo runs only on an instance with demo = true",
            where=str(path),
            hint="it imports subscribers.csv and marks the issue sent to its own sink",
        )
    maildir = settings.path(settings.paths.maildir)
    with devsmtp.sink(maildir) as server:
        app = app_module.build(config.load(path, _sink_overrides(server.port)))
        try:
            for line in demo.run(app, settings.instance_dir / "preview"):
                print(line, flush=True)
        finally:
            app.close()
    print(f"maildir: {maildir} ({len(mailbox.Maildir(str(maildir), create=False))} messages)")
    url = f"http://{settings.web.host}:{settings.web.port}/"
    print(f"preview server: {url} (archive, feeds, issues/<list>/<n>)", end="")
    if not args.serve:
        print(f" — start it with: newsletter --config {path} serve")
        return 0
    print(" — serving now, Ctrl-C stops")
    served = app_module.build(settings)
    uvicorn.run(
        create_app(served), host=settings.web.host, port=settings.web.port, log_level="warning"
    )
    return 0


def register(commands: Any) -> None:
    sub = add(
        commands,
        "demo",
        run_demo,
        "Run init, import, gather, feed, compose and send on the sample instance.",
        "newsletter demo --serve",
    )
    sub.add_argument("--serve", action="store_true", help="then serve the preview site")
