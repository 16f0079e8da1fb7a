"""Outlook messages (`.msg`: MAPI properties in an OLE2 compound file) to text, read as an
e-mail reads (services/parser/core/mail.py): From, To, Cc, Date and Subject, then the body
(its plain-text version, else the visible text of its HTML, else its RTF), then the names of its
attachments; an attached message after it, read the same way.

olefile opens the compound file; the properties are read here. A property is a stream
`__substg1.0_IIIITTTT` (its id, then its type: 001F UTF-16 text, 001E text in the message's
code page, 0102 bytes) or, for a fixed-size value (a date, a code page), a 16-byte record in
the storage's `__properties_version1.0` stream. A message kept only in rich text (no plain
body, no HTML) is read from its compressed RTF (compressed-rtf decompresses it, rtf.py reads
it). Not extract-msg: it is GPL-licensed, and reads attachments' bytes this needs none of.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime
import email.utils
import struct
from collections.abc import Iterator

import compressed_rtf
import olefile

from services.common.encoding import WESTERN
from services.parser.core.builder import TextBuilder
from services.parser.core.errors import ParseError, unreadable
from services.parser.core.html import feed_html
from services.parser.core.mail import MAX_ATTACHED_DEPTH, MAX_ATTACHMENTS, add_headers
from services.parser.core.parsed import ParsedText
from services.parser.core.rtf import extract_rtf
from services.parser.core.text import decode_text, one_line

_UNICODE, _STRING8, _BINARY = "001F", "001E", "0102"
_SUBJECT, _SENDER_NAME, _SENDER_ADDRESS, _SENDER_SMTP = 0x0037, 0x0C1A, 0x0C1F, 0x5D01
_DISPLAY_TO, _DISPLAY_CC, _BODY, _HTML = 0x0E04, 0x0E03, 0x1000, 0x1013
_RTF_COMPRESSED = 0x1009  # the body as RTF, compressed ([MS-OXRTFCP])
_LONG_FILENAME, _FILENAME, _DISPLAY_NAME = 0x3707, 0x3704, 0x3001
_SUBMITTED, _DELIVERED, _CODE_PAGE, _INTERNET_CODE_PAGE = 0x0039, 0x0E06, 0x3FFD, 0x3FDE
_PT_LONG, _PT_SYSTIME = 0x0003, 0x0040
_ATTACHMENT = "__attach_version1.0_#"
_EMBEDDED = "__substg1.0_3701000D"  # an attachment that is a message: its storage
_PROPERTIES = "__properties_version1.0"
# The fixed-value records start after a header: 32 bytes in the message itself, 24 in an
# attached message, 8 in an attachment or recipient.
_TOP_HEADER, _EMBEDDED_HEADER, _ATTACHMENT_HEADER = 32, 24, 8
_MAX_PROPERTIES_BYTES = 1024 * 1024  # of one `__properties_version1.0` read (a real one: KiBs)
_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.UTC)  # where FILETIME counts from


def extract_msg(data: bytes) -> ParsedText:
    """The message's headers, body and attachment names; an attached message after it."""
    builder = TextBuilder()
    try:
        with olefile.OleFileIO(data) as ole:
            top = _Message(ole, _storages(ole), (), _TOP_HEADER)
            subject = top.text(_SUBJECT)
            _add_message(top, builder, depth=0)
    except (ParseError, MemoryError):
        raise
    except Exception as exc:  # olefile and struct on a damaged file: say so, with the reason
        fix = "save it again from Outlook (or as .eml) and upload again"
        raise unreadable("the Outlook message", exc, fix) from exc
    return builder.build(title=one_line(subject) or None)


class _Message:
    """One message's properties: the file's own, or those of an attached message."""

    def __init__(
        self,
        ole: olefile.OleFileIO,
        storages: dict[tuple[str, ...], list[str]],
        path: tuple[str, ...],
        header: int,
    ) -> None:
        self.ole = ole
        self.storages = storages
        self.path = path
        self.fixed = _fixed_values(ole, path, header)
        self.code_page = _code_page(self.fixed)

    def text(self, property_id: int) -> str:
        """A text property (UTF-16, or 8-bit in the message's code page); "" when absent."""
        unicode = self._stream(property_id, _UNICODE)
        if unicode is not None:
            return unicode.decode("utf-16-le", errors="replace").rstrip("\x00")
        eight_bit = self._stream(property_id, _STRING8)
        if eight_bit is None:
            return ""
        try:
            text = eight_bit.decode(self.code_page)
        except UnicodeDecodeError:  # the internet code page (UTF-8) is the HTML's, not this
            text = eight_bit.decode(WESTERN, errors="replace")
        return text.rstrip("\x00")

    def html(self) -> str:
        """The HTML body: kept as bytes in its own charset (or as text); "" when absent."""
        raw = self._stream(_HTML, _BINARY)
        if raw is None:
            return self.text(_HTML)
        try:
            return decode_text(raw.rstrip(b"\x00"))
        except ParseError:  # not text at all: the rest of the message counts
            return ""

    def rtf(self) -> bytes:
        """The RTF body, decompressed (compressed-rtf, MIT); b"" when absent or damaged."""
        raw = self._stream(_RTF_COMPRESSED, _BINARY)
        if raw is None:
            return b""
        try:
            data: bytes = compressed_rtf.decompress(raw)
        except Exception:  # noqa: BLE001 - its CRC or header check: the rest of the message counts
            return b""
        return data

    def attachments(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        """Each attachment's storage name and path, in order, at most MAX_ATTACHMENTS."""
        names = sorted(n for n in self.storages.get(self.path, []) if n.startswith(_ATTACHMENT))
        for name in names[:MAX_ATTACHMENTS]:
            yield name, (*self.path, name)

    def within(self, path: tuple[str, ...], header: int) -> _Message:
        """The properties of the storage at `path` (an attachment, an attached message)."""
        return _Message(self.ole, self.storages, path, header)

    def _stream(self, property_id: int, kind: str) -> bytes | None:
        path = [*self.path, f"__substg1.0_{property_id:04X}{kind}"]
        if not self.ole.exists(path):
            return None
        with self.ole.openstream(path) as stream:
            data: bytes = stream.read()
        return data


def _add_message(message: _Message, builder: TextBuilder, depth: int) -> None:
    """Add one message: headers, body, attachment names, then attached messages."""
    add_headers(
        builder,
        {
            "From": _sender(message),
            "To": message.text(_DISPLAY_TO),
            "Cc": message.text(_DISPLAY_CC),
            "Date": _date(message.fixed),
            "Subject": message.text(_SUBJECT),
        },
    )
    body = message.text(_BODY)
    if body.strip():
        builder.add(body)
    elif html := message.html():
        feed_html(html, builder)
    elif rtf := message.rtf():  # a message kept only in rich text (Outlook's RTF format)
        # RTF without words ends no_text: the headers and attachments still count
        with contextlib.suppress(ParseError):
            builder.add(extract_rtf(rtf).text)
    names: list[str] = []
    attached: list[_Message] = []
    for storage, path in message.attachments():
        if message.ole.exists([*path, _EMBEDDED]):
            attached.append(message.within((*path, _EMBEDDED), _EMBEDDED_HEADER))
            continue
        attachment = message.within(path, _ATTACHMENT_HEADER)
        name = next(
            (
                n
                for p in (_LONG_FILENAME, _FILENAME, _DISPLAY_NAME)
                if (n := one_line(attachment.text(p)))
            ),
            storage,
        )
        names.append(name)
    if names:
        builder.add("Attachments: " + ", ".join(names))
    if depth < MAX_ATTACHED_DEPTH:
        for inner in attached:
            _add_message(inner, builder, depth + 1)


def _storages(ole: olefile.OleFileIO) -> dict[tuple[str, ...], list[str]]:
    """The storages' names under each storage (the root's under ()), listed once: each
    message looks up its own attachments there, not in a listing of the whole file."""
    children: dict[tuple[str, ...], list[str]] = {}
    for entry in ole.listdir(streams=False, storages=True):
        children.setdefault(tuple(entry[:-1]), []).append(entry[-1])
    return children


def _sender(message: _Message) -> str:
    """ "Name <address>", or whichever of the two the message has."""
    name = one_line(message.text(_SENDER_NAME))
    # An Exchange sender's address is a directory name ("/O=.../CN=..."), not a mailbox.
    addresses = (one_line(message.text(p)) for p in (_SENDER_SMTP, _SENDER_ADDRESS))
    address = next((a for a in addresses if "@" in a and not a.startswith("/")), "")
    if name and address and address not in name:
        return f"{name} <{address}>"
    return name or address


def _fixed_values(
    ole: olefile.OleFileIO, path: tuple[str, ...], header: int
) -> dict[int, tuple[int, bytes]]:
    """The fixed-size properties of a storage: id -> (type, the 8 bytes of its value)."""
    stream = [*path, _PROPERTIES]
    if not ole.exists(stream):
        return {}
    with ole.openstream(stream) as opened:
        data = opened.read(_MAX_PROPERTIES_BYTES)
    values: dict[int, tuple[int, bytes]] = {}
    for at in range(header, len(data) - 15, 16):
        kind, property_id, _flags, value = struct.unpack_from("<HHI8s", data, at)
        values.setdefault(property_id, (kind, value))
    return values


def _code_page(fixed: dict[int, tuple[int, bytes]]) -> str:
    """The Python codec of the message's 8-bit text: its code page, else its internet code
    page, else Windows-1252."""
    for property_id in (_CODE_PAGE, _INTERNET_CODE_PAGE):
        kind, value = fixed.get(property_id, (0, b""))
        if kind == _PT_LONG:
            number = int.from_bytes(value[:4], "little")
            name = "utf-8" if number == 65001 else f"cp{number}"
            try:
                return codecs.lookup(name).name
            except LookupError:
                continue
    return WESTERN


def _date(fixed: dict[int, tuple[int, bytes]]) -> str:
    """When it was sent (else delivered), as an e-mail's Date header says it; "" if neither."""
    for property_id in (_SUBMITTED, _DELIVERED):
        kind, value = fixed.get(property_id, (0, b""))
        if kind != _PT_SYSTIME:
            continue
        ticks = int.from_bytes(value, "little")  # 100 ns since 1601
        if ticks == 0:
            continue
        try:
            moment = _EPOCH + datetime.timedelta(microseconds=ticks // 10)
        except OverflowError:
            continue
        return email.utils.format_datetime(moment)
    return ""
