"""The `newsletter` command: parses arguments, runs one command, turns errors into one line.

Each command group lives in its own module with a `register(subcommands)` function;
a command is a few lines over a library call and returns its exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from newsletter import __version__
from newsletter.cli import content, demo, feeds, issues, sending, subscribers
from newsletter.errors import ConfigError, InputError, NewsletterError, NotFound

GROUPS = (content, feeds, issues, sending, subscribers, demo)
USAGE_ERRORS = (ConfigError, InputError, NotFound)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="newsletter",
        description="Gather articles, publish feeds, compose and send email digests.",
    )
    top.add_argument("--version", action="version", version=f"newsletter {__version__}")
    top.add_argument(
        "--config",
        metavar="FILE",
        help="instance config file (default: $NEWSLETTER_CONFIG or ./newsletter.toml)",
    )
    top.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; the only place that catches every error."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except USAGE_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NewsletterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
