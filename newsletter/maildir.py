"""Maildirs the instance reads back: the messages nobody has acted on yet, and marking them.

The embedded SMTP server files mail it acted on as seen at once; `bounces process`
and `unsubscribes process` read the rest and mark what they handled, so a second
run, or the other command, skips it.
"""

from __future__ import annotations

import mailbox
from collections.abc import Callable, Iterator
from pathlib import Path

from newsletter.errors import InputError


def mark_seen(message: mailbox.MaildirMessage) -> None:
    """Filed as read (`cur/`, flag S): what every reader of the Maildir skips."""
    message.set_subdir("cur")
    message.add_flag("S")


def unseen(path: Path) -> Iterator[tuple[bytes, Callable[[], None]]]:
    """Each message not yet marked seen, as it was stored, with a callback that marks it."""
    if not (path / "new").is_dir() or not (path / "cur").is_dir():
        raise InputError("not a Maildir (no new/ and cur/ folders)", where=str(path))
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in list(box.iterkeys()):
        stored = box.get_message(key)
        if "S" in stored.get_flags():
            continue

        def mark(key: str = key, stored: mailbox.MaildirMessage = stored) -> None:
            mark_seen(stored)
            box[key] = stored

        yield box.get_bytes(key), mark
