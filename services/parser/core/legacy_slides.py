"""PowerPoint 97-2003 presentations (`.ppt`: records in an OLE2 compound file) to text.

The `PowerPoint Document` stream is a tree of records, each an 8-byte header (version and
instance, type, length) and its body; a container's body is more records. The words are in
text atoms: UTF-16 (`TextCharsAtom`) or 8-bit Windows-1252 (`TextBytesAtom`), in the slide
list of the document (the text of the slides' placeholders, then of the notes) and in the
drawings of the slides (text boxes, shapes with words, tables' cells). Comments keep theirs
in strings (`CString`) of a comment record.

olefile opens the compound file; the records are read here. No maintained Python library
reads .ppt text (ppt2pptx converts a whole deck, pictures and all, into a .pptx). Masters,
handouts and the document's lists of fonts and embedded objects are left out: their text is
layout prompts ("Click to edit Master title style") and names, not the deck's words.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import olefile

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ParseError, unreadable
from services.parser.core.parsed import ParsedText

_FIX = "save it again from your presentation program (as .pptx) and upload again"
_STREAM = "PowerPoint Document"
_ENCRYPTED = "EncryptedSummary"  # a password-protected deck keeps its summary here
_HEADER = 8
_CONTAINER = 0xF  # the version of a record that holds records
_TEXT_CHARS, _TEXT_BYTES, _STRING = 0x0FA0, 0x0FA8, 0x0FBA
# A programmable tag's data: records, though not marked as a container (where PowerPoint
# 2002 and later keep a slide's comments)
_TAG_DATA = 0x138B
_SLIDE_LIST, _MAIN_MASTER, _NOTES, _NOTES_ATOM = 0x0FF0, 0x03F8, 0x03F0, 0x03F1
_DOCUMENT, _SLIDE_PERSIST, _DIRECTORY = 0x03E8, 0x03F3, 0x1772
_MASTER_IDS = 0x80000000  # a notes master's notes atom names a master (or 0), not a slide
# Where a string (`CString`) is words of the deck, by its instance: a comment's text (not its
# author or initials); the header and footer text set for the slides or notes (shown in the
# masters' placeholders, left out below).
_STRINGS_OF = frozenset({(0x2EE0, 1), (0x0FD9, 0), (0x0FD9, 1), (0x0FD9, 2)})
_SLIDE_NUMBER = "*"  # the text a slide-number field stands in with
# A shape (OfficeArt's shape container) and the atom that makes it a placeholder
_SHAPE, _PLACEHOLDER = 0xF004, 0x0BC3
# Containers whose text is no part of the deck's words: a handout's layout prompts, the
# environment (fonts), the embedded objects' and sounds' lists, the VBA; and the list of the
# masters' text (slide list 1). (Programmable tags are read: PowerPoint 2002 and later keep
# the comments there.)
_LEFT_OUT = frozenset({0x0FC9, 0x03F2, 0x0409, 0x07E4, 0x03FF})
_MASTERS_LIST = 1  # the instance of the slide list that holds the masters' text
MAX_DEPTH = 32  # containers followed inside each other (a real deck nests a few deep)
MAX_RECORDS = 2_000_000  # records looked at in one deck


def extract_ppt(data: bytes) -> ParsedText:
    """The words of the slides (placeholders, text boxes, tables), of the notes and of the
    comments, and the text boxes drawn on the masters, each text once, in the order the file
    keeps them."""
    document = _document_stream(data)
    builder = TextBuilder()
    said: set[str] = set()
    for found in _texts(document):
        text = found.replace("\r", "\n").replace("\x0b", "\n").strip()
        if text and text != _SLIDE_NUMBER and text not in said:  # and said once: a deck
            # saved in steps keeps older copies of its text
            said.add(text)
            builder.add(text)
        if builder.full:
            break
    return builder.build()


def _document_stream(data: bytes) -> bytes:
    """The `PowerPoint Document` stream, or a ParseError saying why it cannot be read."""
    try:
        with olefile.OleFileIO(data) as ole:
            encrypted = ole.exists(_ENCRYPTED)
            with ole.openstream(_STREAM) as stream:
                document: bytes = stream.read()
    except MemoryError:
        raise
    except Exception as exc:  # olefile on a damaged file: say so, with the reason
        raise unreadable("the PPT file", exc, _FIX) from exc
    if encrypted:
        raise ParseError(
            CORRUPT_FILE,
            "the presentation is password-protected; save it without a password and upload again",
        )
    return document


def _texts(document: bytes) -> Iterator[str]:
    """The text atoms and comments' strings of the record tree in the file's order, the
    _LEFT_OUT containers and the notes master skipped, and of a master only the text of
    shapes that are no placeholder (not the prompts, dates and slide numbers). A record
    whose length runs past its container ends that container's walk."""
    title_masters = _title_masters(document)
    # (where, end, depth, the kind of the container, inside a master) of records to read
    stack = [(0, len(document), 0, 0, False)]
    looked = 0
    placeholder = False  # the shape whose records are being read is a placeholder
    while stack and looked < MAX_RECORDS:
        at, end, depth, parent, master = stack.pop()
        if at + _HEADER > end:
            continue
        looked += 1
        version_instance, kind, length = struct.unpack_from("<HHI", document, at)
        body, after = at + _HEADER, at + _HEADER + length
        if after > end:
            continue
        stack.append((after, end, depth, parent, master))  # its next sibling, after it
        instance = version_instance >> 4
        if version_instance & 0xF == _CONTAINER or kind == _TAG_DATA:
            if _read_inside(document, kind, instance, body, after):
                inside = master or kind == _MAIN_MASTER or at in title_masters
                stack.append((body, after, depth + 1, kind, inside))
                placeholder = placeholder and kind != _SHAPE  # a shape starts
            continue
        if kind == _PLACEHOLDER:
            placeholder = True
            continue
        if master and placeholder:
            continue  # a master's placeholder: its prompt, a date or a slide number
        if kind == _TEXT_CHARS or (kind == _STRING and (parent, instance) in _STRINGS_OF):
            yield document[body:after].decode("utf-16-le", errors="replace")
        elif kind == _TEXT_BYTES:
            yield document[body:after].decode("cp1252", errors="replace")


def _title_masters(document: bytes) -> set[int]:
    """Where the title masters are (PowerPoint 97-2002's second master, for title slides: a
    slide record, not a master one). The slide list of the masters names each master's
    persist id; the persist directories (the last word on each id wins) say where it is."""
    master_ids: set[int] = set()
    places: dict[int, int] = {}
    for kind, _, body, after in _records(document, 0, len(document)):
        if kind == _DIRECTORY:
            at = body
            while at + 4 <= after:
                (entry,) = struct.unpack_from("<I", document, at)
                first, count = entry & 0xFFFFF, entry >> 20
                offsets = document[at + 4 : min(at + 4 + 4 * count, after)]
                for index in range(len(offsets) // 4):
                    places[first + index] = int.from_bytes(
                        offsets[4 * index : 4 * index + 4], "little"
                    )
                at += 4 + 4 * count
        elif kind == _DOCUMENT:
            for inner, inner_instance, list_body, list_after in _records(document, body, after):
                if inner == _SLIDE_LIST and inner_instance == _MASTERS_LIST:
                    for atom, _, atom_body, atom_after in _records(document, list_body, list_after):
                        if atom == _SLIDE_PERSIST and atom_after - atom_body >= 4:
                            master_ids.add(
                                int.from_bytes(document[atom_body : atom_body + 4], "little")
                            )
    return {places[i] for i in master_ids if i in places}


def _records(document: bytes, at: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """The records side by side in `document[at:end]`: (kind, instance, body start, end)."""
    while at + _HEADER <= end:
        version_instance, kind, length = struct.unpack_from("<HHI", document, at)
        body, after = at + _HEADER, at + _HEADER + length
        if after > end:
            return
        yield kind, version_instance >> 4, body, after
        at = after


def _read_inside(document: bytes, kind: int, instance: int, body: int, after: int) -> bool:
    """Whether a container's records are read: not a _LEFT_OUT one, not the slide list of
    the masters, not the notes master (a notes container naming no slide)."""
    if kind in _LEFT_OUT or (kind == _SLIDE_LIST and instance == _MASTERS_LIST):
        return False
    if kind == _NOTES and after - body >= _HEADER + 4:
        (first,) = struct.unpack_from("<H", document, body + 2)
        (slide,) = struct.unpack_from("<I", document, body + _HEADER)
        return not (first == _NOTES_ATOM and (slide == 0 or slide >= _MASTER_IDS))
    return True
