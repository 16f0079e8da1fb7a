"""Which paragraphs of a Word 97-2003 document (`.doc`) are headings, and of what level,
from its style sheet and its paragraphs' properties ([MS-DOC]); legacy_word.py reads the text.

A body paragraph is a heading when its style is a built-in "heading 1".."heading 9" (or is
named "Heading", as the DOCX reader takes it), or it has an outline level, set on itself, in
its style or in a style that one is based on (what Word's navigation pane shows); the table
of contents' entries ("toc 1".. styles) and paragraphs in table cells are not. A paragraph's
properties are those of the paragraph mark that ends it: the piece table gives the mark's
file offset, the paragraphs' bin table (PlcBtePapx) the 512-byte page (FKP) that holds it,
with the paragraph's style and its own properties (sprms); the style sheet (STSH) gives each
style's built-in id and properties. Properties kept elsewhere are not read: those of a
fast-saved piece (its `Prm`) and a huge table row's (`sprmPHugePapx`, in the Data stream); a
damaged style sheet or page means no headings, not a failed document. No maintained Python
library reads .doc styles.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

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


def heading_levels(
    word: bytes,
    table: bytes,
    styles_at: tuple[int, int],
    paragraphs_at: tuple[int, int],
    *,
    pieces: list[tuple[int, int, int, bool]],
    marks: list[int],
) -> dict[int, int]:
    """The body's headings: each one's level (1-9) by the position of its paragraph mark
    (`marks`: the body's). None at all when the style sheet or the paragraphs' bin table
    cannot be read: headings only add to text that reads without them."""
    try:
        styles = _style_sheet(table, *styles_at)
        runs = _property_runs(word, table, *paragraphs_at)
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
