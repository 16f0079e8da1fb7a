"""PowerPoint 97-2003 presentations (`.ppt`: records in an OLE2 compound file) to text, one
page per slide with its title as a heading.

The `PowerPoint Document` stream is a tree of records, each an 8-byte header (version and
instance, type, length) and its body; a container's body is more records. The words are in
text atoms: UTF-16 (`TextCharsAtom`) or 8-bit Windows-1252 (`TextBytesAtom`), each after a
header saying what it is (a title, a body, notes). They are kept in the document's slide
list (the slides' placeholders, slide by slide in the deck's order), in the drawings of the
slides (text boxes, shapes with words, tables' cells) and in the notes pages, which name
their slide by its id. Comments keep theirs in strings (`CString`) of a comment record.

A deck saved in steps ("fast save") appends what changed and a persist directory saying
where each object now is; the older copies stay in the file. Only the objects the
directories name last are read, so words the author replaced or deleted are not indexed.

olefile opens the compound file; the records are read here. No maintained Python library
reads .ppt text (ppt2pptx converts a whole deck, pictures and all, into a .pptx). Masters,
handouts and the document's lists of fonts and embedded objects are left out: their text is
layout prompts ("Click to edit Master title style") and names, not the deck's words.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import olefile

from services.common.encoding import legacy_codec
from services.parser.core.builder import TextBuilder
from services.parser.core.compound import read_stream
from services.parser.core.errors import CORRUPT_FILE, ParseError, unreadable
from services.parser.core.parsed import ParsedText

_FIX = "save it again from your presentation program (as .pptx) and upload again"
_STREAM = "PowerPoint Document"
_ENCRYPTED = "EncryptedSummary"  # a password-protected deck keeps its summary here
_PLAIN_TEXT = "Text_Content"  # PowerPoint 95: the deck's texts as plain 8-bit text
_HEADER = 8
_CONTAINER = 0xF  # the version of a record that holds records
_TEXT_CHARS, _TEXT_BYTES, _STRING = 0x0FA0, 0x0FA8, 0x0FBA
# A programmable tag's data: records, though not marked as a container (where PowerPoint
# 2002 and later keep a slide's comments)
_TAG_DATA = 0x138B
_SLIDE_LIST, _MAIN_MASTER, _NOTES, _NOTES_ATOM = 0x0FF0, 0x03F8, 0x03F0, 0x03F1
_DOCUMENT, _SLIDE, _SLIDE_PERSIST, _DIRECTORY = 0x03E8, 0x03EE, 0x03F3, 0x1772
_HANDOUT = 0x0FC9
# The top-level objects a persist directory places (see _Deck)
_PERSISTED = frozenset({_DOCUMENT, _SLIDE, _NOTES, _MAIN_MASTER, _HANDOUT})
# The header of a text (`TextHeaderAtom`) says what it is: a title or a centred title here
_TEXT_HEADER, _TITLES = 0x0F9F, frozenset({0, 6})
# The parts of a slide, in the order they are read: the text of its placeholders (kept in
# the document's slide list), what is drawn on it (text boxes, tables, comments), its notes
_IN_LIST, _ON_SLIDE, _IN_NOTES = 0, 1, 2
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
_LEFT_OUT = frozenset({_HANDOUT, 0x03F2, 0x0409, 0x07E4, 0x03FF})
# The instances of the slide list: the slides' (in the deck's order) and the masters'
_SLIDES_LIST, _MASTERS_LIST = 0, 1
MAX_DEPTH = 32  # containers followed inside each other (a real deck nests a few deep)
MAX_RECORDS = 2_000_000  # records looked at in one deck


def extract_ppt(data: bytes) -> ParsedText:
    """One page per slide, in the order of the deck: its title as a heading, then the other
    words of the slide (placeholders, text boxes, tables), of its notes and of its comments,
    each text once. After the slides, the deck's own words: text boxes drawn on the masters
    and the header and footer text, each not said on a slide. A PowerPoint 95 deck, whose
    records are not 97's, is read from its plain-text stream (no pages or headings)."""
    document, plain = _document_stream(data)
    parsed = _read_deck(document)
    if parsed.text or not plain:
        return parsed
    return _read_plain(plain)


def _read_plain(plain: bytes) -> ParsedText:
    """PowerPoint 95's `Text_Content` stream: the deck's texts in its order, 8-bit in the
    system's code page (Windows-1252 unless its bytes say otherwise), a text's lines apart by
    CR and the texts by two."""
    builder = TextBuilder()
    for text in plain.decode(legacy_codec(plain), errors="replace").split("\r\r"):
        builder.add(text.replace("\r", "\n").replace("\x0b", "\n"))
        if builder.full:
            break
    return builder.build()


def _read_deck(document: bytes) -> ParsedText:
    """The text of a `PowerPoint Document` stream, as extract_ppt says; its title the first
    slide's. (Not the summary's: PowerPoint sets it when a deck is made and it goes stale;
    over POI's decks without a slide title it said "PowerPoint Presentation", "Slide 1" or
    "Folie 1", or was garbled.)"""
    deck = _Deck.read(document)
    slides: dict[int, list[_Found]] = {}
    loose: list[str] = []
    for found in _texts(document, deck):
        text = found.text.replace("\r", "\n").replace("\x0b", "\n").strip()
        if not text or text == _SLIDE_NUMBER:
            continue
        if found.slide is None:
            loose.append(text)
        else:
            slides.setdefault(found.slide, []).append(found._replace(text=text))
    builder = TextBuilder()
    said: set[str] = set()
    first_title: str | None = None
    for index in range(deck.slide_count):
        if builder.full:
            break
        builder.new_page()
        texts = sorted(slides.get(index, []), key=lambda found: found.part)
        titles = [found.text for found in texts if found.title]
        heading = builder.heading(titles[0], 1) if titles else None
        first_title = first_title or (heading.title if heading else None)
        on_slide = set(titles[:1])
        for found in texts:
            if found.text not in on_slide:  # each text once on a slide
                on_slide.add(found.text)
                builder.add(found.text)
        said |= on_slide
    for text in loose:
        if text not in said and not builder.full:
            said.add(text)
            builder.add(text)
    return builder.build(title=first_title, page_count=deck.slide_count or None)


def _document_stream(data: bytes) -> tuple[bytes, bytes]:
    """The `PowerPoint Document` stream and the `Text_Content` one (b"" where there is none:
    PowerPoint 95 writes it), or a ParseError saying why they cannot be read."""
    try:
        with olefile.OleFileIO(data) as ole:
            encrypted = ole.exists(_ENCRYPTED)
            document = read_stream(ole, _STREAM)
            plain = read_stream(ole, _PLAIN_TEXT) if ole.exists(_PLAIN_TEXT) else b""
    except MemoryError:
        raise
    except Exception as exc:  # olefile on a damaged file: say so, with the reason
        raise unreadable("the PPT file", exc, _FIX) from exc
    if encrypted:
        raise ParseError(
            CORRUPT_FILE,
            "the presentation is password-protected; save it without a password and upload again",
        )
    return document, plain


class _Within(NamedTuple):
    """Where the records being read are."""

    parent: int = 0  # the kind of their container
    master: bool = False  # inside a master
    slide: int | None = None  # the slide they belong to (None: the deck itself)
    part: int = _ON_SLIDE  # which part of it: see _IN_LIST, _ON_SLIDE, _IN_NOTES


class _Found(NamedTuple):
    """A text of the deck, with where it belongs."""

    slide: int | None
    part: int
    text: str
    title: bool  # a title's text (its text header says so)


def _texts(document: bytes, deck: _Deck) -> Iterator[_Found]:
    """The text atoms and comments' strings of the record tree in the file's order, each
    with the slide and part it belongs to and whether it is a title. Skipped: the _LEFT_OUT
    containers, the notes master, what a later save replaced, containers nested deeper than
    MAX_DEPTH, and of a master the text of placeholders (prompts, dates, slide numbers). A
    record whose length runs past its container ends that container's walk."""
    stack: list[tuple[int, int, int, _Within]] = [(0, len(document), 0, _Within())]
    looked = 0
    placeholder = False  # the shape whose records are being read is a placeholder
    listed: int | None = None  # the slide whose text the slide list gives next
    title = False  # the record before was the header of a title's text
    while stack and looked < MAX_RECORDS:
        at, end, depth, within = stack.pop()
        if at + _HEADER > end:
            continue
        looked += 1
        version_instance, kind, length = struct.unpack_from("<HHI", document, at)
        body, after = at + _HEADER, at + _HEADER + length
        if after > end:
            continue
        stack.append((after, end, depth, within))  # its next sibling, after it
        instance = version_instance >> 4
        title_before, title = title, False
        if version_instance & 0xF == _CONTAINER or kind == _TAG_DATA:
            if (
                depth < MAX_DEPTH
                and at not in deck.replaced
                and _read_inside(document, kind, instance, body, after)
            ):
                stack.append((body, after, depth + 1, deck.inside(document, kind, at, within)))
                placeholder = placeholder and kind != _SHAPE  # a shape starts
            continue
        if kind == _PLACEHOLDER:
            placeholder = True
            continue
        if within.master and placeholder:
            continue  # a master's placeholder: its prompt, a date or a slide number
        if kind == _SLIDE_PERSIST and within.parent == _SLIDE_LIST and length >= 4:
            listed = deck.listed.get(int.from_bytes(document[body : body + 4], "little"))
        elif kind == _TEXT_HEADER and length >= 4:
            title = int.from_bytes(document[body : body + 4], "little") in _TITLES
        text = _text_of(document[body:after], kind, (within.parent, instance))
        if text is None:
            continue
        if within.parent == _SLIDE_LIST:
            yield _Found(listed, _IN_LIST, text, title_before)
        else:
            yield _Found(within.slide, within.part, text, title_before)


def _text_of(body: bytes, kind: int, where: tuple[int, int]) -> str | None:
    """A text atom's words (UTF-16 or Windows-1252), or a string's where it is words of the
    deck (`where`: its container's kind and its instance); None for any other record."""
    if kind == _TEXT_CHARS or (kind == _STRING and where in _STRINGS_OF):
        return body.decode("utf-16-le", errors="replace")
    if kind == _TEXT_BYTES:
        return body.decode("cp1252", errors="replace")
    return None


@dataclass(frozen=True)
class _Deck:
    """What the walk needs to know of the deck before it starts: where each slide is in the
    deck's order, where the title masters are, and what a later save replaced.

    A deck saved in steps appends what changed (a new document record, a new slide) and a
    persist directory saying where each object now is; the directories in the file's order,
    the last word on an id winning, say where the current objects are. A top-level
    container of a kind the directories place, at a place they no longer name while they do
    name one of its kind, is an older copy: its text was replaced or deleted."""

    listed: dict[int, int]  # a slide's persist id -> its index in the deck
    slides: dict[int, int]  # where a slide's record is -> its index
    ids: dict[int, int]  # a slide's id (what a notes page names) -> its index
    title_masters: frozenset[int]
    replaced: frozenset[int]
    slide_count: int = 0

    @classmethod
    def read(cls, document: bytes) -> _Deck:
        places: dict[int, int] = {}
        persisted: list[tuple[int, int]] = []  # (kind, where) of the top-level objects
        for kind, _, body, after in _records(document, 0, len(document)):
            if kind == _DIRECTORY:
                places.update(_directory(document, body, after))
            elif kind in _PERSISTED:
                persisted.append((kind, body - _HEADER))
        current = set(places.values())
        kinds_placed = {kind for kind, at in persisted if at in current}
        replaced = frozenset(
            at for kind, at in persisted if kind in kinds_placed and at not in current
        )
        documents = [at for kind, at in persisted if kind == _DOCUMENT and at not in replaced]
        lists: dict[int, list[tuple[int, int]]] = {}  # slide list instance -> its atoms
        if documents:  # the last one: where a damaged directory names none, the latest
            at = documents[-1]
            (length,) = struct.unpack_from("<I", document, at + 4)
            for inner, instance, body, after in _records(
                document, at + _HEADER, at + _HEADER + length
            ):
                if inner == _SLIDE_LIST:
                    lists.setdefault(instance, []).extend(_persist_atoms(document, body, after))
        order = lists.get(_SLIDES_LIST, [])
        return cls(
            listed={persist: index for index, (persist, _) in enumerate(order)},
            slides={
                places[persist]: index
                for index, (persist, _) in enumerate(order)
                if persist in places
            },
            ids={slide_id: index for index, (_, slide_id) in enumerate(order)},
            title_masters=frozenset(
                places[persist] for persist, _ in lists.get(_MASTERS_LIST, []) if persist in places
            ),
            replaced=replaced,
            slide_count=len(order),
        )

    def inside(self, document: bytes, kind: int, at: int, within: _Within) -> _Within:
        """Where the records inside a container are: a master's, a slide's own, the notes
        of the slide its notes atom (its first record) names, else where the container is."""
        if kind == _MAIN_MASTER or at in self.title_masters:
            return within._replace(parent=kind, master=True)
        if kind == _SLIDE:
            return within._replace(parent=kind, slide=self.slides.get(at), part=_ON_SLIDE)
        if kind == _NOTES:
            slide = None
            if _kind_at(document, at + _HEADER) == _NOTES_ATOM:
                slide = self.ids.get(int.from_bytes(document[at + 16 : at + 20], "little"))
            return within._replace(parent=kind, slide=slide, part=_IN_NOTES)
        return within._replace(parent=kind)


def _directory(document: bytes, body: int, after: int) -> Iterator[tuple[int, int]]:
    """A persist directory's entries: (persist id, where its object is) each. An entry is
    a first id and a count (20 and 12 bits), then an offset for each id from the first."""
    at = body
    while at + 4 <= after:
        (entry,) = struct.unpack_from("<I", document, at)
        first, count = entry & 0xFFFFF, entry >> 20
        offsets = document[at + 4 : min(at + 4 + 4 * count, after)]
        for index in range(len(offsets) // 4):
            yield first + index, int.from_bytes(offsets[4 * index : 4 * index + 4], "little")
        at += 4 + 4 * count


def _persist_atoms(document: bytes, body: int, after: int) -> Iterator[tuple[int, int]]:
    """A slide list's slides: (persist id, slide id) of each of its `SlidePersistAtom`s."""
    for kind, _, atom_body, atom_after in _records(document, body, after):
        if kind == _SLIDE_PERSIST and atom_after - atom_body >= 16:
            persist, _, _, slide_id = struct.unpack_from("<IIiI", document, atom_body)
            yield persist, slide_id


def _kind_at(document: bytes, at: int) -> int:
    """The kind of the record at `at`."""
    return int.from_bytes(document[at + 2 : at + 4], "little")


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
