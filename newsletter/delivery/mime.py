"""Wire messages: headers nobody can inject into, and bodies encoded once per issue.

Headers are built by hand from cleaned values, never by parsing a string back:
every value loses its control characters (CR, LF, NUL, C1, U+2028/9) first, and
any value that is not plain ASCII, or that merely *looks* like an RFC 2047
encoded word (``=?utf-8?q?...=0D=0ABcc:...?=``), is itself encoded, so a reader
decodes it to the literal text it was, never to a line break and a new header.

Bodies use quoted-printable, not 8bit. Premailer writes lines far longer than the
998 octets SMTP allows, QP keeps every line under 77 octets whatever the
template does, needs no 8BITMIME from the relay, and splices safely: each literal
piece of the issue and each per-subscriber value is encoded on its own and the
pieces are joined with soft line breaks (``=\\r\\n``, which decode to nothing),
so a value can never break the encoding of its neighbours and the decoded text
is always valid UTF-8. The pieces of an issue are encoded once (`Prepared`);
a subscriber costs a few short encodes and one join.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.utils import format_datetime, make_msgid

from newsletter.errors import InputError
from newsletter.models import OutgoingMessage
from newsletter.placeholders import Filler
from newsletter.sanitize import CONTROL, CONTROL_CHARACTERS, one_line

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"
MAX_HEADER_LINE = 990  # a header line within SMTP's 998 octets, name included
# Text that quoted-printable leaves as it is: printable ASCII but "=", no leading dot, no
# space at either end (QP encodes a trailing one).
QP_AS_IS = re.compile(r"(?!\.)[!-<>-~]+(?: +[!-<>-~]+)*")
QP_LINE = 76  # RFC 2045 6.7: encoded lines are at most 76 octets
# A header value folded the only way we fold: CRLF then a space, no other control anywhere.
NO_CONTROL = f"[^{CONTROL_CHARACTERS}]*"
FOLDED = re.compile(f"{NO_CONTROL}(?:\r\n {NO_CONTROL})*")
ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
NOT_IN_URL = re.compile(f"[{CONTROL_CHARACTERS} <>]")  # controls, spaces, brackets
HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
MESSAGE_ID = re.compile(r"<nl\.(\d+)\.(\d+)@[^>]+>")
OWN_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "mime-version", "content-type", "bcc", "cc"}
)


def _charset(encoding: int) -> Charset:
    charset = Charset("utf-8")
    charset.header_encoding = encoding
    return charset


SUBJECT_CHARSET = _charset(QP)
PHRASE_CHARSET = _charset(BASE64)  # base64 words are valid anywhere in a display name


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox: the address and an optional display name (any text, cleaned on use)."""

    email: str
    name: str = ""


def check_address(email: str, where: str = "address") -> str:
    """The address if it is a plain ASCII mailbox; InputError otherwise (never 'fixed')."""
    if not ADDRESS.match(email) or len(email) > 254:
        raise InputError(f"not a usable email address: {email[:80]!r}", where=where)
    return email


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].lower()


def _encoded(text: str, charset: Charset, header_name: str) -> str:
    """Text as header value: ASCII folded as is; anything else (or '=?') as encoded words."""
    if text.isascii() and "=?" not in text:
        return Header(text, header_name=header_name).encode(linesep="\r\n")
    return Header(text, charset, header_name=header_name).encode(linesep="\r\n")


def unstructured(name: str, value: str) -> bytes:
    """One header line (folded) for free text such as a subject."""
    return _line(name, _encoded(one_line(value), SUBJECT_CHARSET, name))


def mailbox(name: str, address: Address) -> bytes:
    """One header line naming a mailbox, its display name encoded when it needs to be."""
    email = check_address(one_line(address.email), where=f"{name} header")
    display = _phrase(address.name, name)
    return _line(name, f"{display} <{email}>" if display else email)


def _phrase(text: str, header_name: str) -> str:
    """A display name: quoted when ASCII, base64 encoded words otherwise; '' when empty."""
    display = one_line(text)
    if not display:
        return ""
    if display.isascii() and "=?" not in display:
        quoted = display.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}"'
    return _encoded(display, PHRASE_CHARSET, header_name)


def _line(name: str, value: str) -> bytes:
    """The wire form of a header; refuses anything but folds after its first line."""
    if not HEADER_NAME.match(name):
        raise InputError(f"not a header name: {name[:40]!r}", where="header")
    if len(value) <= MAX_HEADER_LINE and not CONTROL.search(value):  # one clean line
        return f"{name}: {value}\r\n".encode("ascii")
    if not FOLDED.fullmatch(value):
        raise InputError(f"header {name} would span lines", where="header")
    if any(len(line) > MAX_HEADER_LINE for line in value.split("\r\n")):
        raise InputError(f"header {name} is longer than SMTP allows", where="header")
    return f"{name}: {value}\r\n".encode("ascii")


@functools.lru_cache(maxsize=4)
def _date_line(date: datetime) -> bytes:
    """The Date header; a send makes thousands a second, all of the same second."""
    return _line("Date", format_datetime(date.astimezone(UTC)))


def message_id(issue_id: int, subscriber_id: int, domain: str) -> str:
    """The same Message-ID every time this subscriber is sent this issue (bounces match it)."""
    return f"<nl.{issue_id}.{subscriber_id}@{domain}>"


def parse_message_id(value: str) -> tuple[int, int] | None:
    """(issue id, subscriber id) from one of our Message-IDs, None for any other."""
    found = MESSAGE_ID.search(value)
    return (int(found.group(1)), int(found.group(2))) if found else None


def list_unsubscribe(url: str, mailto: str, token: str) -> list[tuple[str, str]]:
    """RFC 2369 + RFC 8058 headers: the https link for one-click, a mailto as fallback."""
    if not url.startswith("https://") or NOT_IN_URL.search(url):
        raise InputError(f"unsubscribe URL must be https: {url[:80]!r}", where="List-Unsubscribe")
    email = check_address(mailto, where="sender.unsubscribe_address")
    subject = re.sub(r"[^A-Za-z0-9._-]", "", token)
    return [
        ("List-Unsubscribe", f"<{url}>,\r\n <mailto:{email}?subject=unsubscribe%20{subject}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]


def list_id(title: str, name: str, domain: str) -> tuple[str, str]:
    """RFC 2919 List-Id: the list's title as phrase, its name under the sender's domain."""
    if not re.fullmatch(r"[a-z0-9-]+", name):
        raise InputError(f"list name not usable in List-Id: {name!r}", where="List-Id")
    return ("List-Id", f"{_phrase(title, 'List-Id')} <{name}.{domain}>".lstrip())


def qp(text: str) -> bytes:
    """Quoted-printable with CRLF hard breaks, lines under 77 octets, and no line that
    starts with a dot, so the message needs no dot-stuffing on the wire."""
    if len(text) < QP_LINE and QP_AS_IS.fullmatch(text):  # a name, a link: no work to do
        return text.encode("ascii")
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(data, istext=True).replace(b"\n", CRLF)
    if encoded.startswith(b".") or b"\r\n." in encoded:
        encoded = CRLF.join(_without_leading_dot(line) for line in encoded.split(CRLF))
    return encoded


def _without_leading_dot(line: bytes) -> bytes:
    """A QP line whose leading dot is written =2E, re-wrapped when that makes it too long."""
    pieces = []
    while line.startswith(b"."):
        line = b"=2E" + line[1:]
        if len(line) <= QP_LINE:
            break
        cut = QP_LINE - 1  # room for the soft break's "="
        cut -= 1 if line[cut - 1 : cut] == b"=" else 2 if line[cut - 2 : cut - 1] == b"=" else 0
        pieces.append(line[:cut] + b"=")
        line = line[cut:]
    pieces.append(line)
    return CRLF.join(pieces)


def _identity(value: str) -> str:
    return value


@dataclass(frozen=True, slots=True)
class Body:
    """One text part, QP-encoded once, split where per-subscriber values go."""

    content_type: bytes
    literals: tuple[bytes, ...]
    fields: tuple[str, ...]
    escape: Callable[[str], str]

    @classmethod
    def parse(cls, subtype: str, text: str, escape: Callable[[str], str] = _identity) -> Body:
        """A part whose `@@nl:field@@` markers are filled per subscriber."""
        filler = Filler.parse(text)
        literals = tuple(qp(piece) for piece in filler.literals)
        return cls(_content_type(subtype), literals, filler.fields, escape)

    @classmethod
    def literal(cls, subtype: str, text: str) -> Body:
        """A part sent as given: markers in it are text, never fields."""
        return cls(_content_type(subtype), (qp(text),), (), _identity)

    def fill(self, values: Mapping[str, str]) -> bytes:
        pieces = [self.literals[0]]
        for field, literal in zip(self.fields, self.literals[1:], strict=True):
            pieces.append(qp(self.escape(values[field])))
            pieces.append(literal)
        return SOFT_BREAK.join(pieces)


def _content_type(subtype: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii")


@dataclass(frozen=True, slots=True)
class Prepared:
    """What every recipient of a message shares, serialised once: headers and encoded parts."""

    head: bytes
    boundary: bytes
    parts: tuple[Body, ...]

    def render(
        self,
        recipient: Address,
        message_id: str,
        date: datetime,
        values: Mapping[str, str] | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        """The complete message for one recipient, CRLF line ends throughout."""
        own = [
            mailbox("To", recipient),
            _date_line(date.replace(microsecond=0)),
            _line("Message-ID", message_id),
        ]
        own.extend(_line(name, value) for name, value in _extra(headers))
        pieces = [self.head, *own, b"\r\n"]
        filled = values or {}
        for part in self.parts:
            pieces += [b"--", self.boundary, CRLF, part.content_type, part.fill(filled), CRLF]
        pieces += [b"--", self.boundary, b"--", CRLF]
        return b"".join(pieces)


def _extra(headers: Sequence[tuple[str, str]]) -> Sequence[tuple[str, str]]:
    """Headers a caller adds; the ones the builder owns cannot be given twice."""
    for name, _value in headers:
        if name.lower() in OWN_HEADERS:
            raise InputError(f"header {name} is set by the message builder", where="headers")
    return headers


def prepare(
    sender: Address,
    subject: str,
    parts: Sequence[Body],
    *,
    reply_to: Address | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> Prepared:
    """Serialise the shared part of a message; per-recipient headers come in `render`."""
    digest = hashlib.sha256(b"".join(lit for part in parts for lit in part.literals))
    boundary = f"=_nl_{digest.hexdigest()[:24]}".encode("ascii")
    head = [mailbox("From", sender), unstructured("Subject", subject)]
    if reply_to is not None:
        head.append(mailbox("Reply-To", reply_to))
    head.extend(_line(name, value) for name, value in _extra(headers))
    head.append(b"MIME-Version: 1.0\r\n")
    head.append(b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n')
    return Prepared(b"".join(head), boundary, tuple(parts))


def simple_message(
    sender: Address,
    recipient: Address,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    reply_to: Address | None = None,
    headers: Sequence[tuple[str, str]] = (),
    envelope_sender: str = "",
    date: datetime | None = None,
) -> OutgoingMessage:
    """One complete email (text first, then HTML) ready for the messenger.

    For transactional mail such as a confirmation request: the text and HTML are
    sent exactly as given (no placeholders), headers are injection-proof.
    """
    parts = [Body.literal("plain", text)]
    if html is not None:
        parts.append(Body.literal("html", html))
    prepared = prepare(sender, subject, parts, reply_to=reply_to, headers=headers)
    domain = domain_of(check_address(sender.email, where="From"))
    msgid = make_msgid(domain=domain)
    data = prepared.render(recipient, msgid, date or datetime.now(UTC))
    return OutgoingMessage(
        sender=envelope_sender or sender.email,
        recipient=check_address(one_line(recipient.email), where="To"),
        data=data,
        message_id=msgid,
        dot_free=True,
    )
