"""What every command shares: loading the instance's settings and building the App."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from newsletter import app as app_module
from newsletter import config
from newsletter.app import App

Command = Callable[[argparse.Namespace], int]


def settings(args: argparse.Namespace) -> config.Settings:
    return config.load(config.config_path(args.config))


def open_app(args: argparse.Namespace) -> App:
    """The composition root for one command invocation."""
    return app_module.build(settings(args))


def add(
    commands: Any, name: str, run: Command, help_text: str, example: str
) -> argparse.ArgumentParser:
    """Add a subcommand whose help ends with a usage example."""
    sub = commands.add_parser(
        name,
        help=help_text,
        description=f"{help_text}\n\nexample:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(run=run)
    return sub


def with_app(run: Callable[[App, argparse.Namespace], int]) -> Command:
    """Adapt `run(app, args)` to a command that opens and closes the App around it."""

    def command(args: argparse.Namespace) -> int:
        app = open_app(args)
        try:
            return run(app, args)
        finally:
            app.close()

    return command
