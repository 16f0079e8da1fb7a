"""Word 97-2003 documents (`.doc`: Word's binary format in an OLE2 compound file) to text.

A Word 97 document's text is one run of characters: the body, then the footnotes, headers,
comments, endnotes and text boxes, each part's length in the File Information Block (FIB,
the start of the `WordDocument` stream). The piece table (in the `0Table` or `1Table`
stream, where the FIB points) says where each stretch of characters is kept, as UTF-16 or as
8-bit Windows-1252. Special characters mark paragraphs, table cells and fields, whose
instructions (`HYPERLINK "..."`, `PAGE`) are not text a reader sees, only their results.

olefile opens the compound file; these few structures of [MS-DOC] are read here. No
maintained Python library reads .doc text: antiword is a C program, and legacy-doc looks for
the piece table by scanning the table stream rather than where the FIB says, and keeps the
fields' instructions in the text. Styles are not read: a .doc has no headings here.
"""

from __future__ import annotations

import codecs
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import olefile

from services.common.encoding import detect_encoding, telling_sample
from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ParseError, unreadable
from services.parser.core.parsed import ParsedText
from services.parser.core.text import title_of

_FIX = "save it again from your word processor (as .docx) and upload again"
_WORD_97 = 101  # the FIB's nFib of Word 97 and later; Word 6 and 95 wrote less
_IDENT_97 = 0xA5EC
_IDENTS = frozenset({_IDENT_97, 0xA5DC})  # Word 97 and later; Word 6.0 and 95
_COMPLEX, _ENCRYPTED, _TABLE_1 = 0x0004, 0x0100, 0x0200  # FIB flags
_TEXT_RANGE_AT = 0x18  # fcMin, fcMac: a Word 6.0/95 file's text, unless saved in steps
_WESTERN = "cp1252"
_NOT_8_BIT = frozenset({1200, 1201, 65000, 65001})  # UTF-16, UTF-7, UTF-8: no help for 8-bit text
_OLD_CLX_AT = 0x0160  # a Word 6.0/95 file's piece table: offset and length in the main stream
_CLX_AT = 0x01A2  # fcClx, then lcbClx: where the piece table is in the table stream
# The parts in the order the characters hold them, by their index in the FIB's FibRgLw97
# (ccpText, ccpFtn, ccpHdd, ccpMcr (unused), ccpAtn, ccpEdn, ccpTxbx, ccpHdrTxbx).
_PART_LENGTHS = (3, 4, 5, 6, 7, 8, 9, 10)
_BODY, _HEADERS = 0, 2
# Read in this order: the body, then footnotes, endnotes, comments and text boxes (as the
# DOCX walk reads notes after the body), then the headers and footers, each text once.
_READ_ORDER = (0, 1, 5, 4, 6, 7)
_PIECE = 8  # bytes of one piece descriptor
_COMPRESSED = 0x40000000  # a piece kept as 8-bit text
_FIELD_BEGIN, _FIELD_SEPARATOR, _FIELD_END = "\x13", "\x14", "\x15"
_CELL = "\x07"
# Characters that stand for something not text (a picture, a drawn object, a footnote's or
# comment's reference mark, an optional hyphen) and the other controls: left out.
_NOT_TEXT = re.compile(r"[\x00-\x06\x08\x0e-\x12\x16-\x1d\x1f]")
_BREAKS = str.maketrans({"\x0b": "\n", "\x0c": "\r", "\x1e": "-"})


@dataclass(frozen=True)
class _Fib:
    """What the text needs of the File Information Block."""

    flags: int
    part_lengths: tuple[int, ...]
    clx: tuple[int, int]  # where the piece table is: offset and length in the table stream
    old: bool = False  # Word 6.0 or 95: 8-bit text (see _old_characters)

    @classmethod
    def read(cls, word: bytes) -> _Fib:
        ident, version = struct.unpack_from("<HH", word, 0)
        (flags,) = struct.unpack_from("<H", word, 0x0A)
        if ident not in _IDENTS:
            raise ParseError(CORRUPT_FILE, f"the file is no Word document; {_FIX}")
        if flags & _ENCRYPTED:
            raise ParseError(
                CORRUPT_FILE,
                "the document is password-protected; save it without a password and upload again",
            )
        if ident != _IDENT_97 or version < _WORD_97:
            return cls(flags, (), (0, 0), old=True)
        (words,) = struct.unpack_from("<H", word, 32)  # csw: 16-bit values that follow
        longs_at = 34 + 2 * words
        (longs,) = struct.unpack_from("<H", word, longs_at)  # cslw
        lengths = struct.unpack_from(f"<{longs}i", word, longs_at + 2)
        part_lengths = tuple(max(lengths[i], 0) if i < longs else 0 for i in _PART_LENGTHS)
        clx = struct.unpack_from("<II", word, _CLX_AT)
        return cls(flags, part_lengths, clx)


def extract_doc(data: bytes) -> ParsedText:
    """The body's paragraphs and tables, then footnotes, endnotes, comments and text
    boxes, then each header and footer text once; the title from the document's summary."""
    builder = TextBuilder()
    try:
        with olefile.OleFileIO(data) as ole:
            word = _stream(ole, "WordDocument")
            fib = _Fib.read(word)
            if fib.old:
                characters = _old_characters(word, fib, _code_page(ole))
                _add_parts(builder, characters, (len(characters) // 2, 0, 0, 0, 0, 0, 0, 0))
            else:
                table = _stream(ole, "1Table" if fib.flags & _TABLE_1 else "0Table")
                needed = sum(fib.part_lengths)
                characters = _characters(word, _pieces(table, *fib.clx), needed)
                _add_parts(builder, characters, fib.part_lengths)
            title = _title(ole)
    except (ParseError, MemoryError):
        raise
    except Exception as exc:  # olefile and struct on a damaged file: say so, with the reason
        raise unreadable("the DOC file", exc, _FIX) from exc
    return builder.build(title=title)


def _stream(ole: olefile.OleFileIO, name: str) -> bytes:
    with ole.openstream(name) as stream:
        data: bytes = stream.read()
    return data


def _old_characters(word: bytes, fib: _Fib, code_page: str | None) -> bytes:
    """A Word 6.0 or 95 document's characters as UTF-16LE, the body and its other parts in
    one run: 8-bit text from fcMin to fcMac, or where its piece table says when it was saved
    in steps (complex). Its parts' lengths are not read: all is body. The text is in the
    code page its summary names, else the one its bytes look like (Word 95 wrote no code
    page of the text itself; a Russian letter read as Windows-1252 was mojibake)."""
    if fib.flags & _COMPLEX:  # the piece table is in the main stream
        parts, left = [], len(word)  # never more than the stream holds (see _characters)
        for first, end, start, _ in _pieces(word, *struct.unpack_from("<II", word, _OLD_CLX_AT)):
            count = min(max(end - first, 0), left)
            if count <= 0:
                break
            parts.append(word[start : start + count])
            left -= count
        raw = b"".join(parts)
    else:
        start, end = struct.unpack_from("<II", word, _TEXT_RANGE_AT)
        raw = word[start:end]
    codec = code_page or detect_encoding(telling_sample(raw)) or _WESTERN
    return raw.decode(codec, errors="replace").encode("utf-16-le")


def _code_page(ole: olefile.OleFileIO) -> str | None:
    """The codec of the 8-bit code page the document's summary names, if it names one."""
    try:
        number = ole.get_metadata().codepage
    except Exception:  # noqa: BLE001 - a broken summary names none
        return None
    if not isinstance(number, int) or number <= 0 or number in _NOT_8_BIT:
        return None
    try:
        return codecs.lookup(f"cp{number}").name
    except LookupError:
        return None


def _pieces(table: bytes, offset: int, length: int) -> list[tuple[int, int, int, bool]]:
    """The piece table: (first character, end character, where kept, 8-bit or not) each.
    Skips the formatting records (`Prc`, 0x01) before it (`Pcdt`, 0x02)."""
    clx = table[offset : offset + length]
    at = 0
    while at < len(clx) and clx[at] == 0x01:
        (size,) = struct.unpack_from("<H", clx, at + 1)
        at += 3 + size
    if at >= len(clx) or clx[at] != 0x02:
        raise ParseError(CORRUPT_FILE, f"the document's piece table cannot be found; {_FIX}")
    (size,) = struct.unpack_from("<I", clx, at + 1)
    plc = clx[at + 5 : at + 5 + size]
    count = (len(plc) - 4) // (4 + _PIECE)
    if count <= 0:
        return []
    bounds = struct.unpack_from(f"<{count + 1}I", plc, 0)
    pieces = []
    for index in range(count):
        (where,) = struct.unpack_from("<I", plc, 4 * (count + 1) + index * _PIECE + 2)
        compressed = bool(where & _COMPRESSED)
        start = (where & ~_COMPRESSED) // 2 if compressed else where
        pieces.append((bounds[index], bounds[index + 1], start, compressed))
    return pieces


def _characters(word: bytes, pieces: list[tuple[int, int, int, bool]], needed: int) -> bytes:
    """The document's first `needed` characters, piece by piece in their order, as UTF-16LE
    (the parts' lengths count UTF-16 units: a character beyond the BMP counts two). Never
    more than the stream has bytes: a damaged table whose pieces each claim the whole
    stream would otherwise make gigabytes of a small file."""
    parts = []
    left = min(needed, len(word))
    for first, end, start, compressed in pieces:
        count = min(max(end - first, 0), left)
        if count <= 0:
            break
        left -= count
        if compressed:
            text = word[start : start + count].decode("cp1252", errors="replace")
            parts.append(text.encode("utf-16-le"))
        else:
            parts.append(word[start : start + 2 * count])
    return b"".join(parts)


def _add_parts(builder: TextBuilder, characters: bytes, lengths: tuple[int, ...]) -> None:
    """Add each part's text: the body and notes paragraph by paragraph, the headers and
    footers each paragraph once (a section's first-page, odd and even headers often say
    the same)."""
    starts = [sum(lengths[:index]) for index in range(len(lengths))]

    def part(index: int) -> str:
        units = characters[2 * starts[index] : 2 * (starts[index] + lengths[index])]
        return units.decode("utf-16-le", errors="replace")

    for index in _READ_ORDER:
        for block, tight in _blocks(part(index)):
            builder.add(block, tight=tight)
    said: set[str] = set()
    for block, _ in _blocks(part(_HEADERS)):
        if block not in said:
            said.add(block)
            builder.add(block)


def _blocks(text: str) -> Iterator[tuple[str, bool]]:
    """The paragraphs of a part, and its tables' rows as tab-separated lines (each row
    tight after the one before): a cell ends at a cell mark, a row at a second one."""
    visible = _NOT_TEXT.sub("", _without_field_codes(text).translate(_BREAKS))
    in_table = False
    for paragraph in visible.split("\r"):
        if _CELL not in paragraph:
            in_table = False
            if paragraph.strip():
                yield paragraph.strip(), False
            continue
        *rows, after = paragraph.split(_CELL * 2)  # after the last row: a paragraph
        for row in rows:
            line = row.replace(_CELL, "\t").strip("\t")
            if line.strip():
                yield line, in_table
                in_table = True
        if after.strip():
            in_table = False
            yield after.replace(_CELL, "\t").strip(), False


def _without_field_codes(text: str) -> str:
    """The text without fields' instructions: a field is written begin, instructions,
    separator, result, end (fields nest); only its result is shown."""
    if _FIELD_BEGIN not in text:
        return text
    kept: list[str] = []
    showing: list[bool] = []  # per open field: past its separator
    hidden = 0  # the open fields not past their separator: while any, nothing shows
    for piece in re.split(r"([\x13\x14\x15])", text):
        if piece == _FIELD_BEGIN:
            showing.append(False)
            hidden += 1
        elif piece == _FIELD_SEPARATOR and showing:
            hidden -= not showing[-1]
            showing[-1] = True
        elif piece == _FIELD_END and showing:
            hidden -= not showing.pop()
        elif hidden == 0:
            kept.append(piece)
    return "".join(kept)


def _title(ole: olefile.OleFileIO) -> str | None:
    """The title in the document's summary information, if it has a readable one."""
    try:
        metadata = ole.get_metadata()
    except Exception:  # noqa: BLE001 - the title is optional; a broken summary is not fatal
        return None
    title = metadata.title
    if not isinstance(title, bytes):
        return title_of(title)
    code_page = metadata.codepage if isinstance(metadata.codepage, int) else 1252
    try:
        return title_of(title.decode(f"cp{code_page}", errors="replace").rstrip("\x00"))
    except LookupError:
        return title_of(title.decode("cp1252", errors="replace").rstrip("\x00"))
