"""Wire format: no header injection from any field, RFC 2047 where needed, QP splices stay valid."""

from __future__ import annotations

import binascii
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header

import pytest

from newsletter.delivery import mime
from newsletter.delivery.mime import Address, Body, prepare, simple_message
from newsletter.errors import InputError

SENDER = Address("notes@example.org", "Notes")
ATTACK = "=?utf-8?q?Hello=0D=0ABcc:_victim@evil.example?="
DATE = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def parsed(data: bytes):
    once = message_from_bytes(data, policy=policy.default)
    twice = message_from_bytes(once.as_bytes(), policy=policy.default)
    legacy = message_from_bytes(data, policy=policy.compat32)
    return once, twice, legacy


@pytest.mark.parametrize("field", ["subject", "recipient name", "sender name"])
def test_encoded_word_that_decodes_to_a_line_break_adds_no_header(field):
    subject = ATTACK if field == "subject" else "Hi"
    sender = Address(SENDER.email, ATTACK if field == "sender name" else "Notes")
    recipient = Address("ann@example.com", ATTACK if field == "recipient name" else "Ann")
    message = simple_message(sender, recipient, subject, "text", "<p>html</p>")
    for each in parsed(message.data):
        assert each["Bcc"] is None
        assert "victim" not in str(each.keys())
    shown = {"subject": "Subject", "recipient name": "To", "sender name": "From"}[field]
    legacy = parsed(message.data)[2]
    assert ATTACK in str(make_header(decode_header(legacy[shown])))  # shown as it was written


def test_raw_line_breaks_and_control_characters_are_stripped_everywhere():
    message = simple_message(
        Address(SENDER.email, "Notes\r\nBcc: a@evil.example"),
        Address("ann@example.com", "Ann\x00\u2028Cc: b@evil.example"),
        "Issue\r\nBcc: c@evil.example\x85",
        "text",
    )
    head = message.data.partition(b"\r\n\r\n")[0]
    assert not any(line.lower().startswith((b"bcc", b"cc")) for line in head.split(b"\r\n"))
    once, _, _ = parsed(message.data)
    assert once["Subject"] == "Issue Bcc: c@evil.example"
    assert once["Bcc"] is None and once["Cc"] is None


@pytest.mark.parametrize(
    "email", ["ann@example.com\r\nBcc: x@evil.example", "no-at-sign", "a b@c.d"]
)
def test_an_address_that_is_not_a_plain_mailbox_is_refused(email):
    with pytest.raises(InputError, match="not a usable email address"):
        simple_message(SENDER, Address(email), "Hi", "text")


def test_non_ascii_subject_and_names_are_encoded_and_decode_back():
    message = simple_message(
        Address(SENDER.email, "Zoë’s Notes"), Address("ann@example.com", "Ånn"), "Café – #1", "t"
    )
    head = message.data.partition(b"\r\n\r\n")[0]
    assert head.isascii() and b"=?utf-8?" in head
    once, _, _ = parsed(message.data)
    assert once["Subject"] == "Café – #1"
    assert once["From"].addresses[0].display_name == "Zoë’s Notes"
    assert once["To"].addresses[0].display_name == "Ånn"


def test_long_subject_is_folded_within_line_limits():
    message = simple_message(SENDER, Address("a@example.com"), "word " * 60 + "ünïcode " * 30, "t")
    head = message.data.partition(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert parsed(message.data)[0]["Subject"] == ("word " * 60 + "ünïcode " * 30).strip()


def test_spliced_values_keep_quoted_printable_valid_and_utf8():
    html = "<p>" + "é=" * 100 + "Hi @@nl:name@@!</p><a href='@@nl:unsubscribe_url@@'>x</a>"
    body = Body.parse("html", html, lambda v: v.replace("<", "&lt;"))
    prepared = prepare(SENDER, "Hi", [Body.parse("plain", "Hi @@nl:name@@\n"), body])
    values = {"name": "Zoë <b> =?x?= @@nl:email@@ " + "ß" * 90, "unsubscribe_url": "https://x/u/t"}
    data = prepared.render(Address("a@example.com"), "<m@example.org>", DATE, values)
    once, _, _ = parsed(data)
    text = once.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html_out = once.get_body(("html",)).get_content()
    assert text == f"Hi {values['name']}\n"
    assert html_out.rstrip("\n") == html.replace(
        "@@nl:name@@", values["name"].replace("<", "&lt;")
    ).replace("@@nl:unsubscribe_url@@", "https://x/u/t")
    body_lines = data.partition(b"\r\n\r\n")[2].split(b"\r\n")
    assert all(len(line) <= 76 and line.isascii() for line in body_lines)
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_builder_owned_headers_cannot_be_added_twice():
    with pytest.raises(InputError, match="set by the message builder"):
        simple_message(SENDER, Address("a@example.com"), "Hi", "t", headers=[("Bcc", "x@y.z")])


def test_message_ids_are_deterministic_and_read_back():
    value = mime.message_id(7, 42, "example.org")
    assert value == mime.message_id(7, 42, "example.org") == "<nl.7.42@example.org>"
    assert mime.parse_message_id(f"Message-ID: {value}") == (7, 42)
    assert mime.parse_message_id("<abc@example.org>") is None


def test_list_unsubscribe_needs_https_and_a_clean_mailto():
    headers = dict(mime.list_unsubscribe("https://n.example/u/tok.en", "u@example.org", "tok.en"))
    assert headers["List-Unsubscribe"] == (
        "<https://n.example/u/tok.en>,\r\n <mailto:u@example.org?subject=unsubscribe%20tok.en>"
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with pytest.raises(InputError):
        mime.list_unsubscribe("http://n.example/u/t", "u@example.org", "t")


@pytest.mark.parametrize(
    "text",
    [
        ".starts with a dot",
        "a" * 75 + ".after a soft break",
        "a" * 74 + "é.after an escape",
        "line\n.dotted line\n..two\n.\n",
        ("x" * 75 + "." + "=" * 40 + "\n") * 3,
        "." * 400,
    ],
)
def test_quoted_printable_never_starts_a_line_with_a_dot(text):
    encoded = mime.qp(text)
    lines = encoded.split(b"\r\n")
    assert not any(line.startswith(b".") for line in lines)
    assert all(len(line) <= 76 for line in lines)
    assert binascii.a2b_qp(encoded).decode("utf-8") == text.replace("\n", "\r\n")


def test_a_rendered_message_needs_no_dot_stuffing():
    html = "<p>" + "a" * 75 + ".b</p><p>@@nl:name@@</p>\n.@@nl:name@@"
    prepared = prepare(
        SENDER, "Hi", [Body.parse("plain", ".@@nl:name@@\n"), Body.parse("html", html)]
    )
    data = prepared.render(Address("a@example.com"), "<m@example.org>", DATE, {"name": ".Dot"})
    assert b"\r\n." not in data and not data.startswith(b".") and data.endswith(b"\r\n")
    assert parsed(data)[0].get_body(("plain",)).get_content().startswith(".")


@pytest.mark.parametrize(
    "value",
    [
        "Reader 5",
        "https://x.example/u/abc.def-ghi_j",
        "a=b",
        " lead",
        "trail ",
        ".dot",
        "tab\there",
        "é",
        "x" * 80,
        "two  spaces",
        "",
    ],
)
def test_short_values_encode_exactly_as_the_full_encoder_would(value):
    encoded = mime.qp(value)
    assert binascii.a2b_qp(encoded).decode("utf-8") == value
    assert not encoded.startswith(b".") and all(len(line) <= 76 for line in encoded.split(b"\r\n"))
