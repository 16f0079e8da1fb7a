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
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser

from services.common.encoding import WESTERN, bom_encoding, utf8_whatever_its_label
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
# Bytes of a header that are not ASCII, as the parser keeps them (surrogate escapes)
_RAW_BYTES = re.compile("[\udc80-\udcff]")
# The charset of an RFC 2047 encoded word (with an RFC 2231 language: `=?utf-8*en?q?`)
_WORD_CHARSET = re.compile(r"=\?([\w.:-]{1,40})(?:\*[\w-]*)?\?[BbQq]\?")
_WIDE = ("utf-16", "utf-32", "utf16", "utf32", "ucs")  # charsets of 2 or 4 bytes a character
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
    if charset.startswith(_WIDE):
        return None  # NUL-free UTF-16 text can be valid UTF-8 too: its label decides
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes) and utf8_whatever_its_label(payload):
        return payload.decode("utf-8")
    return None


def _header(message: Message, name: str) -> str:
    """A header's value, decoded (RFC 2047 words), on one line; "" when absent or unreadable."""
    try:
        value = message.get(name)
        if value is None:
            return ""
        raw = next((raw for key, raw in message.raw_items() if key.lower() == name.lower()), "")
        if isinstance(raw, str) and _RAW_BYTES.search(raw):
            value = policy.default.header_factory(name, _eight_bit(raw, message))
        return one_line(str(value))
    except _TEXT_UNREADABLE:
        return ""


def _eight_bit(raw: str, message: Message) -> str:
    """A header written with bytes beyond ASCII and no RFC 2047 word to name their charset.

    The standard library reads such bytes as UTF-8 and shows any other as U+FFFD
    ("Forma\ufffd\ufffdo"). Mail programs read them in a charset the message names (for its
    text, else in an encoded word of another header: the program that wrote one wrote the
    others), else in their default, Windows-1252 (Thunderbird's and the WHATWG's for Western
    locales). Not a detector's guess: a header is too short for one (it read "Caf\xe9" as
    Greek).
    """
    data = raw.encode("ascii", "surrogateescape")
    for charset in _named_charsets(message):
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode(WESTERN, errors="replace")


def _named_charsets(message: Message) -> Iterator[str]:
    """UTF-8, then the charsets a message names: its parts' text, its headers' encoded words."""
    yield "utf-8"
    for part in message.walk():
        charset = part.get_content_charset()
        if charset and not charset.startswith(_WIDE):  # any even byte count decodes as UTF-16
            yield charset
    for _, value in message.raw_items():
        for found in _WORD_CHARSET.finditer(str(value)):
            yield found.group(1)
