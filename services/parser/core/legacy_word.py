"""Word 97-2003 documents (`.doc`: Word's binary format in an OLE2 compound file) to text.

A Word 97 document's text is one run of characters: the body, then the footnotes, headers,
comments, endnotes and text boxes, each part's length in the File Information Block (FIB,
the start of the `WordDocument` stream). The piece table (in the `0Table` or `1Table`
stream, where the FIB points) says where each stretch of characters is kept, as UTF-16 or as
8-bit Windows-1252. Special characters mark paragraphs, table cells and fields, whose
instructions (`HYPERLINK "..."`, `PAGE`) are not text a reader sees, only their results.

Headings: a body paragraph is one when its style is a built-in "heading 1".."heading 9" (or
is named "Heading", as the DOCX reader takes it), or it has an outline level, set on itself,
in its style or in a style that one is based on (what Word's navigation pane shows); the
table of contents' entries ("toc 1".. styles) and paragraphs in table cells are not.
A paragraph's properties are those of the paragraph mark that ends it:
the piece table gives the mark's file offset, the paragraph properties' bin table
(PlcBtePapx) the 512-byte page (FKP) that holds it, with the paragraph's style and its own
properties (sprms); the style sheet (STSH) gives each style's built-in id and properties.
Properties kept elsewhere are not read: those of a fast-saved piece (its `Prm`) and a huge
table row's (`sprmPHugePapx`, in the Data stream); a damaged style sheet or page means no
headings, not a failed document. Word 6.0 and 95 files (another FIB, 8-bit styles) are
read without headings.

olefile opens the compound file; these few structures of [MS-DOC] are read here. No
maintained Python library reads .doc text, let alone its styles: antiword is a C program,
and legacy-doc looks for the piece table by scanning the table stream rather than where the
FIB says, and keeps the fields' instructions in the text.
"""

from __future__ import annotations

import codecs
import re
import struct
from bisect import bisect_right
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

# Paragraph properties ([MS-DOC] PapxFkp): a page of 512 bytes in the WordDocument
# stream, its run count in the last byte, then the runs' file offsets (one more than runs)
# and a BxPap (13 bytes) each, whose first byte is half the offset of its PapxInFkp.
_PAGE = 512
_PAGE_NUMBER = 0x003FFFFF  # PnFkpPapx: the low 22 bits
_FC = 4
_BX_PAP = 13
# The style sheet ([MS-DOC] STSH): a style's StdfBase starts with its built-in id
# (sti, 12 bits), its kind (stk, 4 bits) and the style it is based on (12 bits), the count of
# its property sets (cupx, 4 bits); a paragraph style's first property set is its own.
_STDF_BASE = 10
_NO_STYLE = 0x0FFF  # istdBase of a style based on none
_PARAGRAPH_STYLE = 1
_HEADING_STIS = range(1, 10)  # "heading 1" .. "heading 9"
# A style of this name is a heading of level 1, as the DOCX reader takes it: OpenOffice's and
# LibreOffice's own style, the one their "heading N" styles are based on.
_HEADING_NAME = "Heading"
_ALIASES = ","  # a style's name is followed by its other names, if any
_TOC_STIS = range(19, 28)  # "toc 1" .. "toc 9": the entries of a table of contents
_MAX_BASED_ON = 32  # styles based on styles: more is a loop or a damaged sheet
# Paragraph sprms ([MS-DOC] Sprm, PAP): the outline level (0-8 is heading 1-9, 9 body text) and
# "in a table" (a cell's paragraph: part of a row here, never a heading).
_SPRM_OUTLINE_LEVEL = 0x2640
_SPRM_IN_TABLE = 0x2416
_OUTLINE_LEVELS = 9
# An operand's size by the sprm's top three bits (spra); 6 is variable, its size in a byte
# that follows, except for these two, which say it in their own way.
_OPERAND_SIZES = {0: 1, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2, 7: 3}
_VARIABLE = 6
_SPRM_DEF_TABLE = 0xD608  # a 16-bit count, one more than the bytes after it
_SPRM_CHANGE_TABS = 0xC615  # a count of 255 means: deleted and added tabs, each counted


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
            word = _stream(ole, "WordDocument")
            fib = _Fib.read(word)
            if fib.old:
                characters = _old_characters(word, fib, _code_page(ole))
                _add_parts(builder, characters, (len(characters) // 2, 0, 0, 0, 0, 0, 0, 0), {})
            else:
                table = _stream(ole, "1Table" if fib.flags & _TABLE_1 else "0Table")
                pieces = _pieces(table, *fib.clx)
                characters = _characters(word, pieces, sum(fib.part_lengths))
                body = characters[: 2 * fib.part_lengths[_BODY]]
                levels = _heading_levels(word, table, fib, pieces, _paragraph_marks(body))
                _add_parts(builder, characters, fib.part_lengths, levels)
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


def _heading_levels(
    word: bytes,
    table: bytes,
    fib: _Fib,
    pieces: list[tuple[int, int, int, bool]],
    marks: list[int],
) -> dict[int, int]:
    """The body's headings: each one's level (1-9) by the position of its paragraph mark
    (`marks`: the body's). None at all when the style sheet or the paragraphs' bin table
    cannot be read: headings only add to text that reads without them."""
    try:
        styles = _style_sheet(table, *fib.styles)
        runs = _property_runs(word, table, *fib.paragraphs)
    except (struct.error, ValueError):
        return {}
    starts = [run[0] for run in runs]
    firsts = [piece[0] for piece in pieces]
    style_levels: dict[int, int | None] = {}
    by_properties: dict[int, int | None] = {}  # by where they are: runs share them
    levels = {}
    for mark in marks:
        offset = _file_offset(pieces, firsts, mark)
        index = -1 if offset is None else bisect_right(starts, offset) - 1
        if index < 0 or offset is None or offset >= runs[index][1]:
            continue
        properties = runs[index][2]
        if properties not in by_properties:
            by_properties[properties] = _paragraph_level(word, properties, styles, style_levels)
        level = by_properties[properties]
        if level is not None:
            levels[mark] = level
    return levels


def _file_offset(
    pieces: list[tuple[int, int, int, bool]], firsts: list[int], position: int
) -> int | None:
    """Where in the WordDocument stream the character at `position` is kept, if a piece
    holds it (`firsts`: each piece's first character)."""
    index = bisect_right(firsts, position) - 1
    if index < 0:
        return None
    first, end, start, compressed = pieces[index]
    if position >= end:
        return None
    return start + (position - first) * (1 if compressed else 2)


def _property_runs(
    word: bytes, table: bytes, offset: int, length: int
) -> list[tuple[int, int, int]]:
    """The runs of file offsets that share paragraph properties, in order: (first, end,
    where their PapxInFkp is in the WordDocument stream, 0 where they have none), from each
    page the bin table names, each page once. The bin table's own file offsets are not
    used (nor by Apache POI): the pages' runs say the same, and are what holds."""
    plc = table[offset : offset + length]
    count = max((len(plc) - _FC) // (2 * _FC), 0)  # a PLC: count + 1 offsets, count pages
    numbers = plc[_FC * (count + 1) : _FC * (2 * count + 1)]
    seen: set[int] = set()  # never more pages than the stream holds
    runs: list[tuple[int, int, int]] = []
    for (number,) in struct.iter_unpack("<I", numbers):
        page_at = (number & _PAGE_NUMBER) * _PAGE
        if page_at not in seen and page_at + _PAGE <= len(word):
            seen.add(page_at)
            runs.extend(_page_runs(word, page_at))
    runs.sort()
    return runs


def _page_runs(word: bytes, page_at: int) -> list[tuple[int, int, int]]:
    """One page's runs (see `_property_runs`); none if its run count cannot fit it."""
    count = word[page_at + _PAGE - 1]
    boxes_at = page_at + _FC * (count + 1)
    if boxes_at + _BX_PAP * count > page_at + _PAGE - 1:
        return []
    offsets = struct.unpack_from(f"<{count + 1}I", word, page_at)
    runs = []
    for index in range(count):
        half = word[boxes_at + _BX_PAP * index]  # bOffset: where, in 16-bit words
        runs.append((offsets[index], offsets[index + 1], page_at + 2 * half if half else 0))
    return runs


def _paragraph_level(
    word: bytes, at: int, styles: list[_Style | None], style_levels: dict[int, int | None]
) -> int | None:
    """The heading level the paragraph properties at `at` give, if any: their own outline
    level, else their style's (`style_levels`: those found so far, by style index). Never a
    table of contents' entry or a table cell's paragraph."""
    papx = _papx(word, at)
    if papx is None:
        return None
    istd, grpprl = papx
    style = styles[istd] if istd < len(styles) else None
    if style is not None and style.sti in _TOC_STIS:
        return None
    outline, in_table = _paragraph_sprms(grpprl)
    if in_table:
        return None
    if outline is not None:
        return _outline_heading(outline)
    if istd not in style_levels:
        style_levels[istd] = _style_level(styles, istd)
    return style_levels[istd]


def _papx(word: bytes, at: int) -> tuple[int, bytes] | None:
    """The paragraph properties at `at` in a page (PapxInFkp): the style's index and the
    properties set on the paragraph itself; None for none, or for a size past the page."""
    if at == 0:
        return None
    page_end = at - at % _PAGE + _PAGE - 1  # the page's last byte is its run count
    count = word[at]
    # cb: the size is 2 * cb - 1 bytes, or, when cb is 0, twice the byte that follows
    size, at = (2 * count - 1, at + 1) if count else (2 * word[at + 1], at + 2)
    if size < 2 or at + size > page_end:
        return None
    (istd,) = struct.unpack_from("<H", word, at)
    return istd, word[at + 2 : at + size]


def _paragraph_sprms(grpprl: bytes) -> tuple[int | None, bool]:
    """The outline level these paragraph properties set (None if they do not), and whether
    they put the paragraph in a table."""
    outline, in_table = None, False
    for sprm, operand in _sprms(grpprl):
        if sprm == _SPRM_OUTLINE_LEVEL:
            outline = grpprl[operand]
        elif sprm == _SPRM_IN_TABLE:
            in_table = grpprl[operand] != 0
    return outline, in_table


def _sprms(grpprl: bytes) -> Iterator[tuple[int, int]]:
    """Each property (Sprm) in a list of them, with where its operand starts, while they
    fit (a variable operand starts with its size)."""
    at = 0
    while at + 2 <= len(grpprl):
        (sprm,) = struct.unpack_from("<H", grpprl, at)
        size = _operand_size(grpprl, sprm, at + 2)
        if at + 2 + size > len(grpprl):
            return
        yield sprm, at + 2
        at += 2 + size


def _operand_size(grpprl: bytes, sprm: int, at: int) -> int:
    """The bytes of a sprm's operand at `at`, its size's own bytes counted."""
    kind = sprm >> 13  # spra
    if kind != _VARIABLE:
        return _OPERAND_SIZES[kind]
    if sprm == _SPRM_DEF_TABLE:  # a 16-bit count, then one byte less than it says
        return _byte(grpprl, at) + (_byte(grpprl, at + 1) << 8) + 1
    count = _byte(grpprl, at)
    if sprm == _SPRM_CHANGE_TABS and count == 255:  # [MS-DOC] PChgTabsOperand
        deleted = _byte(grpprl, at + 1)  # each a position and a closing one: 4 bytes
        added_at = at + 2 + 4 * deleted
        return added_at + 1 + 3 * _byte(grpprl, added_at) - at  # each a position, a kind
    return 1 + count


def _byte(data: bytes, at: int) -> int:
    """The byte at `at`, 0 past the end: a size read there still claims more than is left,
    so the sprm does not fit."""
    return data[at] if at < len(data) else 0


@dataclass(frozen=True)
class _Style:
    """What headings need of a style: its built-in id (sti), the style it is based on, the
    outline level its own paragraph properties set (if any), and its name."""

    sti: int
    based_on: int
    outline: int | None
    name: str


def _style_sheet(table: bytes, offset: int, length: int) -> list[_Style | None]:
    """The document's styles by index (istd); None for an empty slot or a damaged style."""
    stsh = table[offset : offset + length]
    (header,) = struct.unpack_from("<H", stsh, 0)  # cbStshi: the Stshi that follows
    count, base_size = struct.unpack_from("<HH", stsh, 2)  # cstd, cbSTDBaseInFile
    styles: list[_Style | None] = []
    at = 2 + header
    for _ in range(count):  # each: its size (cbStd, 0 for none), then its STD
        if at + 2 > len(stsh):
            break
        (size,) = struct.unpack_from("<H", stsh, at)
        styles.append(_style(stsh[at + 2 : at + 2 + size], base_size))
        at += 2 + size
    return styles


def _style(std: bytes, base_size: int) -> _Style | None:
    """One style (STD): its StdfBase, then (past `base_size` bytes of Stdf) its name, then a
    paragraph style's own paragraph properties."""
    if len(std) < _STDF_BASE:
        return None
    sti, kind_and_base, property_sets = struct.unpack_from("<HHH", std, 0)
    name, upx_at = _style_name(std, base_size)
    outline = None
    if kind_and_base & 0x000F == _PARAGRAPH_STYLE and property_sets & 0x000F:
        outline = _paragraph_sprms(_style_paragraph_properties(std, upx_at))[0]
    return _Style(sti & 0x0FFF, kind_and_base >> 4, outline, name.split(_ALIASES)[0])


def _style_name(std: bytes, at: int) -> tuple[str, int]:
    """A style's name (a 16-bit length, UTF-16 characters and a null), and where what
    follows it starts."""
    if at + 2 > len(std):
        return "", len(std)
    (length,) = struct.unpack_from("<H", std, at)
    name = std[at + 2 : at + 2 + 2 * length].decode("utf-16-le", errors="replace")
    return name, at + 2 + 2 * (length + 1)


def _style_paragraph_properties(std: bytes, upx_at: int) -> bytes:
    """A paragraph style's own sprms (UpxPapx): their size (cbUpx), the style's index,
    then them."""
    if upx_at + 2 > len(std):
        return b""
    (size,) = struct.unpack_from("<H", std, upx_at)
    return std[upx_at + 4 : upx_at + 2 + size]


def _style_level(styles: list[_Style | None], istd: int) -> int | None:
    """The heading level of a paragraph style: a built-in heading's, or 1 for one named
    "Heading", else the outline level it sets or inherits from the style it is based on
    (and so on: only the outline level is a property that passes on, not the name)."""
    style = styles[istd] if istd < len(styles) else None
    if style is None:
        return None
    if style.sti in _HEADING_STIS:
        return style.sti
    if style.name == _HEADING_NAME:
        return 1
    outline = _inherited_outline(styles, style)
    return None if outline is None else _outline_heading(outline)


def _inherited_outline(styles: list[_Style | None], style: _Style) -> int | None:
    """The outline level a style sets, else the one the style it is based on has (and so
    on, never further than `_MAX_BASED_ON`: a loop or a damaged sheet)."""
    for _ in range(_MAX_BASED_ON):
        if style.outline is not None:
            return style.outline
        if style.based_on == _NO_STYLE or style.based_on >= len(styles):
            return None
        base = styles[style.based_on]
        if base is None:  # an empty slot
            return None
        style = base
    return None


def _outline_heading(outline: int) -> int | None:
    """The heading level of an outline level: 0-8 are 1-9, the rest body text."""
    return outline + 1 if outline < _OUTLINE_LEVELS else None


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
