"""The embedded sink: real SMTP on 127.0.0.1 into a Maildir, and the demo's messenger path."""

from __future__ import annotations

import mailbox
import socket

import pytest

from newsletter.config import SMTPSettings
from newsletter.delivery.mime import Address, simple_message
from newsletter.delivery.smtp import send_one
from newsletter.devsmtp import sink


def test_each_recipient_gets_a_maildir_entry(tmp_path):
    message = simple_message(
        Address("notes@example.org", "Notes"), Address("ann@example.com", "Ann"), "Hi", "text"
    )
    with sink(tmp_path / "md") as server:
        reply = send_one(SMTPSettings(port=server.port, timeout=5), message)
    stored = list(mailbox.Maildir(str(tmp_path / "md")))
    assert "stored" in reply
    assert len(stored) == 1
    assert stored[0]["Delivered-To"] == "ann@example.com"
    assert stored[0]["Return-Path"] == "<notes@example.org>"
    assert stored[0]["Message-ID"] == message.message_id


def test_a_port_in_use_is_reported_not_shared(tmp_path):
    with sink(tmp_path / "md") as server, pytest.raises(OSError):
        sink(tmp_path / "md2", port=server.port)


def test_stops_listening_when_the_block_ends(tmp_path):
    with sink(tmp_path / "md") as server:
        port = server.port
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
