"""Word 97-2003 documents (`.doc`: Word's binary format in an OLE2 compound file) to text.

A Word 97 document's text is one run of characters: the body, then the footnotes, headers,
comments, endnotes and text boxes, each part's length in the File Information Block (FIB,
the start of the `WordDocument` stream). The piece table (in the `0Table` or `1Table`
stream, where the FIB points) says where each stretch of characters is kept, as UTF-16 or as
8-bit Windows-1252. Special characters mark paragraphs, table cells and fields, whose
instructions (`HYPERLINK "..."`, `PAGE`) are not text a reader sees, only their results.

Headings: which body paragraphs are, and of what level, is read from the style sheet and
the paragraphs' properties (legacy_word_styles.py); Word 6.0 and 95 files (another FIB,
8-bit styles) are read without headings.

olefile opens the compound file; these few structures of [MS-DOC] are read here. No
maintained Python library reads .doc text, let alone its styles: antiword is a C program,
and legacy-doc looks for the piece table by scanning the table stream rather than where the
FIB says, and keeps the fields' instructions in the text.
"""

from __future__ import annotations

import codecs
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import olefile

from services.common.encoding import legacy_codec
from services.parser.core.builder import TextBuilder
from services.parser.core.compound import read_stream, summary_title
from services.parser.core.errors import CORRUPT_FILE, ParseError, unreadable
from services.parser.core.legacy_word_styles import heading_levels
from services.parser.core.parsed import ParsedText

_FIX = "save it again from your word processor (as .docx) and upload again"
_WORD_97 = 101  # the FIB's nFib of Word 97 and later; Word 6 and 95 wrote less
_IDENT_97 = 0xA5EC
_IDENTS = frozenset({_IDENT_97, 0xA5DC})  # Word 97 and later; Word 6.0 and 95
_COMPLEX, _ENCRYPTED, _TABLE_1 = 0x0004, 0x0100, 0x0200  # FIB flags
_TEXT_RANGE_AT = 0x18  # fcMin, fcMac: a Word 6.0/95 file's text, unless saved in steps
_NOT_8_BIT = frozenset({1200, 1201, 65000, 65001})  # UTF-16, UTF-7, UTF-8: no help for 8-bit text
_OLD_CLX_AT = 0x0160  # a Word 6.0/95 file's piece table: offset and length in the main stream
_CLX_AT = 0x01A2  # fcClx, then lcbClx: where the piece table is in the table stream
_STSH_AT = 0x00A2  # fcStshf, then lcbStshf: where the style sheet is in the table stream
_BTE_PAPX_AT = 0x0102  # fcPlcfBtePapx, then lcbPlcfBtePapx: the paragraphs' pages of properties
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
# Word 97-2003's phonetic guide (furigana) is an EQ field with no result,
# `EQ ... \o\ad(\s\up 10(とうきょう),東京)`: its base text (東京) is what the text keeps, the
# reading left out as ruby's is in DOCX (Tika's testWORD_phonetic.doc was a document with no
# text). Linear: no nesting.
_PHONETIC_GUIDE = re.compile(r"\\o(?:\\a[a-z])?\(\\s\\up\s*-?\d*\([^()]*\),([^()]*)\)")
_CELL = "\x07"
# Characters that stand for something not text (a picture, a drawn object, a footnote's or
# comment's reference mark, an optional hyphen) and the other controls: left out.
_NOT_TEXT = re.compile(r"[\x00-\x06\x08\x0e-\x12\x16-\x1d\x1f]")
_BREAKS = str.maketrans({"\x0b": "\n", "\x0c": "\r", "\x1e": "-"})
_PARAGRAPH_MARK = "\r".encode("utf-16-le")
# A heading paragraph is marked in the text, before its paragraph mark, by the noncharacter
# U+FDD0 plus its level: the marks then go through the fields' removal with the text (a
# table of contents' field result spans many paragraphs). Noncharacters are never text: any
# the document holds are dropped first.
_HEADING_MARK = 0xFDD0
_HEADING_MARKS = re.compile("[\ufdd1-\ufdd9]")
_NONCHARACTERS = re.compile("[\ufdd0-\ufdef]")


@dataclass(frozen=True)
class _Fib:
    """What the text needs of the File Information Block."""

    flags: int
    part_lengths: tuple[int, ...]
    clx: tuple[int, int]  # where the piece table is: offset and length in the table stream
    old: bool = False  # Word 6.0 or 95: 8-bit text (see _old_characters)
    styles: tuple[int, int] = (0, 0)  # the style sheet: offset and length in the table stream
    paragraphs: tuple[int, int] = (0, 0)  # the paragraphs' bin table: likewise

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
        styles = struct.unpack_from("<II", word, _STSH_AT)
        paragraphs = struct.unpack_from("<II", word, _BTE_PAPX_AT)
        return cls(flags, part_lengths, clx, styles=styles, paragraphs=paragraphs)


def extract_doc(data: bytes) -> ParsedText:
    """The body's paragraphs and tables, then footnotes, endnotes, comments and text
    boxes, then each header and footer text once; the title from the document's summary."""
    builder = TextBuilder()
    try:
        with olefile.OleFileIO(data) as ole:
            word = read_stream(ole, "WordDocument")
            fib = _Fib.read(word)
            if fib.old:
                characters = _old_characters(word, fib, _code_page(ole))
                _add_parts(builder, characters, (len(characters) // 2, 0, 0, 0, 0, 0, 0, 0), {})
            else:
                table = read_stream(ole, "1Table" if fib.flags & _TABLE_1 else "0Table")
                pieces = _pieces(table, *fib.clx)
                characters = _characters(word, pieces, sum(fib.part_lengths))
                body = characters[: 2 * fib.part_lengths[_BODY]]
                levels = heading_levels(
                    word,
                    table,
                    fib.styles,
                    fib.paragraphs,
                    pieces=pieces,
                    marks=_paragraph_marks(body),
                )
                _add_parts(builder, characters, fib.part_lengths, levels)
            title = summary_title(ole)
    except (ParseError, MemoryError):
        raise
    except Exception as exc:  # olefile and struct on a damaged file: say so, with the reason
        raise unreadable("the DOC file", exc, _FIX) from exc
    return builder.build(title=title)


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
    codec = code_page or legacy_codec(raw)
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


def _paragraph_marks(units: bytes) -> list[int]:
    """Where UTF-16LE text has its paragraph marks, in units (a match at an odd byte is the
    halves of two other characters)."""
    marks = []
    at = units.find(_PARAGRAPH_MARK)
    while at >= 0:
        if at % 2 == 0:
            marks.append(at // 2)
        at = units.find(_PARAGRAPH_MARK, at + 1)
    return marks


def _add_parts(
    builder: TextBuilder, characters: bytes, lengths: tuple[int, ...], levels: dict[int, int]
) -> None:
    """Add each part's text: the body and notes paragraph by paragraph, the body's headings
    (`levels`: each one's level by the position of its paragraph mark) as headings, the
    headers and footers each paragraph once (a section's first-page, odd and even headers
    often say the same)."""
    starts = [sum(lengths[:index]) for index in range(len(lengths))]

    def part(index: int) -> str:
        units = characters[2 * starts[index] : 2 * (starts[index] + lengths[index])]
        return _marked(units, levels if index == _BODY else {})

    for index in _READ_ORDER:
        for block, tight, level in _blocks(part(index)):
            if level is None:
                builder.add(block, tight=tight)
            else:
                builder.heading(block, level)
    said: set[str] = set()
    for block, _, _ in _blocks(part(_HEADERS)):
        if block not in said:
            said.add(block)
            builder.add(block)


def _marked(units: bytes, levels: dict[int, int]) -> str:
    """A part's UTF-16LE text, with each heading's mark put before its paragraph mark (the
    positions count UTF-16 units, so the text is decoded between them)."""
    texts: list[str] = []
    done = 0
    for mark in sorted(levels):
        texts.append(_decoded(units[2 * done : 2 * mark]))
        texts.append(chr(_HEADING_MARK + levels[mark]))
        done = mark
    texts.append(_decoded(units[2 * done :]))
    return "".join(texts)


def _decoded(units: bytes) -> str:
    """UTF-16LE text without noncharacters, which are never text: a heading's mark is one."""
    return _NONCHARACTERS.sub("", units.decode("utf-16-le", errors="replace"))


def _blocks(text: str) -> Iterator[tuple[str, bool, int | None]]:
    """The paragraphs of a part, each with its heading level if marked as a heading (see
    `_marked`), and its tables' rows as tab-separated lines (each row tight after the one
    before): a cell ends at a cell mark, a row at a second one."""
    visible = _NOT_TEXT.sub("", _without_field_codes(text).translate(_BREAKS))
    in_table = False
    for marked in visible.split("\r"):
        level, paragraph = _heading_level(marked)
        if _CELL not in paragraph:
            in_table = False
            if paragraph.strip():
                yield paragraph.strip(), False, level
            continue
        *rows, after = paragraph.split(_CELL * 2)  # after the last row: a paragraph
        for row in rows:
            line = row.replace(_CELL, "\t").strip("\t")
            if line.strip():
                yield line, in_table, None
                in_table = True
        if after.strip():  # the mark ends the paragraph: it is the one after the rows
            in_table = False
            yield after.replace(_CELL, "\t").strip(), False, level


def _heading_level(paragraph: str) -> tuple[int | None, str]:
    """The level a paragraph's heading mark gives (its last, should fields have joined
    paragraphs), and its text without marks."""
    marks = _HEADING_MARKS.findall(paragraph)
    if not marks:
        return None, paragraph
    return ord(marks[-1]) - _HEADING_MARK, _HEADING_MARKS.sub("", paragraph)


def _without_field_codes(text: str) -> str:
    """The text without fields' instructions: a field is written begin, instructions,
    separator, result, end (fields nest); only its result is shown. A phonetic guide has
    no result (Word draws it from the instructions): its base text is kept."""
    if _FIELD_BEGIN not in text:
        return text
    kept: list[str] = []
    showing: list[bool] = []  # per open field: past its separator
    # The open fields' instructions, innermost last, and where each field's begin: one list
    # and plain numbers, not a list per field (80,000 nested fields made 80,000 lists)
    code: list[str] = []
    starts: list[int] = []
    hidden = 0  # the open fields not past their separator: while any, nothing shows
    for piece in re.split(r"([\x13\x14\x15])", text):
        if piece == _FIELD_BEGIN:
            showing.append(False)
            starts.append(len(code))
            hidden += 1
        elif piece == _FIELD_SEPARATOR and showing:
            hidden -= not showing[-1]
            showing[-1] = True
        elif piece == _FIELD_END and showing:
            shown, start = showing.pop(), starts.pop()
            hidden -= not shown
            guide = None if shown or hidden else _PHONETIC_GUIDE.search("".join(code[start:]))
            if guide is not None:
                kept.append(guide[1])
            del code[start:]
        elif hidden == 0:
            kept.append(piece)
        elif showing and not showing[-1]:
            code.append(piece)
    return "".join(kept)
