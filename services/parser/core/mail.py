"""E-mail (RFC 5322 / MIME, `.eml`, and mailboxes, `.mbox`) to text with the standard
library's `email` package.

A message reads as a person reads it: From, To, Cc, Date and Subject, then the body (its
plain-text version, else the visible text of its HTML), then the names of its attachments.
An attached message is read the same way after it. Attachments' bytes are never indexed:
the raw message carries them as base64 lines, which were chunked and embedded as text.

A mailbox holds messages one after the other, each starting at a postmark line (`From
<sender> <date>`). Each is read as a message, under a heading of its subject; read as one
message, the others were its body: raw headers, base64 and quoted-printable lines. The
split is done here, by the postmark lines: the standard library's `mailbox` reads files by
path, and its rule (any line starting "From ") splits where a body says "From here on".
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser

from services.common.encoding import bom_encoding, utf8_whatever_its_label
from services.common.media import MBOX_POSTMARK
from services.parser.core.builder import TextBuilder
from services.parser.core.errors import ParseError, unreadable
from services.parser.core.html import feed_html
from services.parser.core.parsed import ParsedText
from services.parser.core.text import decode_text, one_line

SHOWN_HEADERS = ("From", "To", "Cc", "Date", "Subject")
MAX_ATTACHED_DEPTH = 8  # messages attached inside messages, read at most this deep
MAX_ATTACHMENTS = 1_000  # attachments of one message listed at most
_TEXT_UNREADABLE = (LookupError, UnicodeError, ValueError, AssertionError, AttributeError)
# Where a mailbox's messages start: a postmark at the start of a line (linear: `\S+ +`
# cannot overlap)
_POSTMARKS = re.compile(b"^" + MBOX_POSTMARK.encode(), re.MULTILINE)


def extract_email(data: bytes) -> ParsedText:
    """The message's headers, body and attachment names; an attached message after it. Of
    a mailbox, each message so, under a heading of its subject."""
    if bom_encoding(data) is not None or b"\x00" in data[:4096]:
        # A message saved as UTF-16: the parser reads bytes as ASCII-compatible.
        data = decode_text(data).encode("utf-8", errors="replace")
    builder = TextBuilder()
    messages = _mailbox(data)
    try:
        title = None
        for number, raw in enumerate(messages, start=1):
            if builder.full:
                break
            message = BytesParser(policy=policy.default).parsebytes(raw)
            subject = _header(message, "Subject")
            if len(messages) == 1:
                title = subject or None
            else:
                builder.heading(subject or f"Message {number}", 1)
            _add_message(message, builder, depth=0)
    except (ParseError, MemoryError):
        raise
    except Exception as exc:  # email's parser is lenient; what it still raises ends here
        fix = "save it again from the mail program and upload again"
        raise unreadable("the e-mail", exc, fix) from exc
    return builder.build(title=title)


def _mailbox(data: bytes) -> list[bytes]:
    """The messages of an mbox file, each from its postmark line; [data] for one message."""
    starts = [found.start() for found in _POSTMARKS.finditer(data)]
    if len(starts) < 2 or starts[0] != 0:
        return [data]
    return [data[start:end] for start, end in zip(starts, [*starts[1:], len(data)], strict=True)]


def feed_mime_body(data: bytes, builder: TextBuilder) -> None:
    """Add only the body of a MIME message: a web archive (MHT) a DOCX imports as a chunk,
    whose headers are no part of the document. One that cannot be read adds nothing."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
        body = message.get_body(preferencelist=("html", "plain"))
        if body is not None:
            _add_text(body, builder)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - the chunk is one part of a document: the rest counts
        return  # (a ParseError too: HTML nested past reading, as for an HTML chunk)


def _add_message(message: Message, builder: TextBuilder, depth: int) -> None:
    """Add one message: headers, body, attachment names, then attached messages."""
    add_headers(builder, {name: _header(message, name) for name in SHOWN_HEADERS})
    if not isinstance(message, EmailMessage):  # pragma: no cover - policy.default makes them
        return
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        _add_text(body, builder)
    attached: list[EmailMessage] = []
    names: list[str] = []
    for index, part in enumerate(message.iter_attachments()):
        if index >= MAX_ATTACHMENTS:
            break
        inner = part.get_payload(0) if part.get_content_type() == "message/rfc822" else None
        if isinstance(inner, EmailMessage):
            attached.append(inner)
        else:
            names.append(one_line(part.get_filename() or "") or part.get_content_type())
    if names:
        builder.add("Attachments: " + ", ".join(names))
    if depth < MAX_ATTACHED_DEPTH:
        for inner in attached:
            _add_message(inner, builder, depth + 1)


def add_headers(builder: TextBuilder, headers: dict[str, str]) -> None:
    """Add a message's headers as one block, a "Name: value" line each, the empty left out."""
    builder.add("\n".join(f"{name}: {value}" for name, value in headers.items() if value))


def _add_text(part: MIMEPart, builder: TextBuilder) -> None:
    """Add a text/plain or text/html part, decoded by its charset (else detected)."""
    try:
        content = _utf8_labelled_otherwise(part) or part.get_content()
    except _TEXT_UNREADABLE:  # an unknown charset or a broken transfer encoding
        payload = part.get_payload(decode=True)
        try:
            content = decode_text(payload) if isinstance(payload, bytes) else ""
        except ParseError:  # not text at all: this part is left out, the message counts
            return
    if not isinstance(content, str):
        return
    if part.get_content_subtype() == "html":
        feed_html(content, builder)
    else:
        builder.add(content)


def _utf8_labelled_otherwise(part: MIMEPart) -> str | None:
    """The part's text when its bytes are UTF-8 whatever charset its header names (see
    `utf8_whatever_its_label`); else None: its charset decides."""
    charset = (part.get_content_charset() or "").replace("_", "-")
    if charset.startswith(("utf-16", "utf-32", "utf16", "utf32", "ucs")):
        return None  # NUL-free UTF-16 text can be valid UTF-8 too: its label decides
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes) and utf8_whatever_its_label(payload):
        return payload.decode("utf-8")
    return None


def _header(message: Message, name: str) -> str:
    """A header's value, decoded (RFC 2047 words), on one line; "" when absent or unreadable."""
    try:
        value = message.get(name)
        return one_line(str(value)) if value is not None else ""
    except _TEXT_UNREADABLE:
        return ""
