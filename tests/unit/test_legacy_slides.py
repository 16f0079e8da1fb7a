"""PowerPoint 97-2003 decks (`.ppt`) to text (services/parser/core/legacy_slides.py): a page
per slide, titled by its heading, with its notes and comments; header and footer text and
what is drawn on the masters, not the masters' prompts; of a deck saved in steps, only what
its last save kept. The files are Apache Tika's and Apache POI's test decks from the corpus;
the record walk is checked on records written here."""

from __future__ import annotations

import struct

import pytest

from services.common.media import PPT, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from services.parser.core.legacy_slides import _Deck, _read_deck, _texts
from tests.fixtures.corpus import corpus_file

pytestmark = pytest.mark.unit


def record(kind: int, body: bytes, *, container: bool = False, instance: int = 0) -> bytes:
    version = 0xF if container else 0
    return struct.pack("<HHI", version | instance << 4, kind, len(body)) + body


def chars(text: str) -> bytes:
    return record(0x0FA0, text.encode("utf-16-le"))


def test_a_deck_reads_its_slides() -> None:
    data = corpus_file("tika/testPPT.ppt").read()
    assert sniff_media_type(data) == PPT
    parsed = extract(data, PPT)
    assert parsed.text == (
        "Sample Powerpoint Slide\n\nCreated with Microsoft\nPowerpoint X for Mac\nService Release 1"
    )
    assert (parsed.page_count, parsed.pages, parsed.title) == (1, [0], "Sample Powerpoint Slide")
    assert [(h.start, h.level, h.title) for h in parsed.headings] == [
        (0, 1, "Sample Powerpoint Slide")
    ]


def test_each_slide_is_a_page_with_its_title_notes_and_only_the_last_saved_words() -> None:
    # POI's deck was saved three times: its file still holds the first slide list and an
    # older copy of slide 2's text ("...have formattingT"), and the notes pages come before
    # the slide list that is current.
    parsed = extract(corpus_file("poi/basic_test_ppt_file.ppt").read(), PPT)
    second = parsed.text.index("This is the title on page 2")
    assert parsed.page_count == 2
    assert parsed.pages == [0, second]
    assert [(h.start, h.title) for h in parsed.headings] == [
        (0, "This is a test title"),
        (second, "This is the title on page 2"),
    ]
    assert parsed.text[:second].split("\n\n") == [
        "This is a test title",
        "This is a test subtitle\nThis is on page 1",
        "These are the notes for page 1",
        "",
    ]
    assert parsed.text[second:].split("\n\n") == [
        "This is the title on page 2",
        "This is page two\nIt has several blocks of text\nNone of them have formatting",
        "These are the notes on page two, again lacking formatting",
    ]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("tika/testComment.ppt", "Here is some text\n\nHere is a comment"),
        ("poi/WithComments.ppt", "This is a test comment\n\nIt is on the first, only slide"),
        ("tika/testPPT_masterText.ppt", "Text that I added to the master slide"),
        ("tika/testPPT_various.ppt", "This is the footer text.\n\nThis is the header text."),
        ("poi/43781.ppt", "First run\n\nSecond run"),  # and a title master
    ],
)
def test_comments_master_text_and_footers_are_read(path: str, words: str) -> None:
    text = extract(corpus_file(path).read(), PPT).text
    assert words in text
    assert "Click to edit Master" not in text


def test_a_password_protected_deck_fails_saying_so() -> None:
    with pytest.raises(ParseError) as caught:
        extract(corpus_file("tika/testPPT_protected_passtika.ppt").read(), PPT)
    assert caught.value.code == "corrupt_file"
    assert "password-protected" in str(caught.value)


def test_the_walk_keeps_the_decks_words_and_leaves_out_prompts_and_settings() -> None:
    placeholder = record(0xF011, record(0x0BC3, bytes(8)), container=True)
    text_box = record(0xF00D, chars("Company name"), container=True)
    prompt = record(0xF00D, chars("Click to edit Master title style"), container=True)
    master = record(
        0x03F8,
        record(0xF004, placeholder + prompt, container=True)
        + record(0xF004, text_box, container=True),
        container=True,
    )
    fonts = record(0x03F2, chars("Arial"), container=True)
    notes_master = record(
        0x03F0,
        record(0x03F1, struct.pack("<I", 0x80000001)) + chars("Notes prompt"),
        container=True,
    )
    comment = record(
        0x2EE0,
        record(0x0FBA, "Ana".encode("utf-16-le"))  # its author
        + record(0x0FBA, "Check the levels".encode("utf-16-le"), instance=1),
        container=True,
    )
    slide = record(0x03EE, chars("Floods") + record(0x0FA8, b"caf\xe9") + comment, container=True)
    cut = struct.pack("<HHI", 0, 0x0FA0, 1_000)  # a record longer than what is left
    document = master + fonts + notes_master + slide + cut
    found = _texts(document, _Deck.read(document))
    assert [f.text for f in found] == ["Company name", "Floods", "café", "Check the levels"]


def persist(persist_id: int, slide_id: int) -> bytes:
    return record(0x03F3, struct.pack("<IIiI", persist_id, 0, 0, slide_id) + bytes(4))


def header(kind: int) -> bytes:
    return record(0x0F9F, struct.pack("<I", kind))


def directory(places: dict[int, int]) -> bytes:
    entries = b"".join(struct.pack("<II", 1 << 20 | i, at) for i, at in places.items())
    return record(0x1772, entries)


def test_the_last_save_says_which_records_are_read_and_where_each_text_belongs() -> None:
    def document_record(*entries: bytes) -> bytes:
        return record(0x03E8, record(0x0FF0, b"".join(entries), container=True), container=True)

    old = document_record(persist(3, 256), header(0), chars("Old title"))
    old_slide = record(0x03EE, chars("Deleted box"), container=True)
    first = old + old_slide + directory({1: 0, 3: len(old)})
    new = document_record(
        persist(3, 256),
        header(0),
        chars("Floods"),
        header(1),
        chars("Rivers rise"),
        persist(5, 257),
        header(6),
        chars("Second"),
    )
    notes = record(
        0x03F0, record(0x03F1, struct.pack("<II", 256, 0)) + chars("Say hello"), container=True
    )
    slide = record(0x03EE, chars("New box") + chars("Rivers rise"), container=True)
    at_new, at_notes = len(first), len(first) + len(new)
    at_slide = at_notes + len(notes)
    document = first + new + notes + slide + directory({1: at_new, 3: at_slide, 4: at_notes})
    parsed = _read_deck(document)
    second = parsed.text.index("Second")
    assert parsed.text == "Floods\n\nRivers rise\n\nNew box\n\nSay hello\n\nSecond"
    assert (parsed.page_count, parsed.pages) == (2, [0, second])
    assert [(h.start, h.title) for h in parsed.headings] == [(0, "Floods"), (second, "Second")]


def test_a_powerpoint_95_deck_is_read_from_its_plain_text_stream() -> None:
    # PowerPoint 95 records are not 97's; the deck keeps its words in a Text_Content stream
    # too. POI's PPT95.ppt ended no_text ("the document contains no readable text").
    parsed = extract(corpus_file("poi/PPT95.ppt").read(), PPT)
    assert parsed.text.startswith(
        "XML, HTML and All That\n\nWhat do they Mean, and Why are they Important?\n\n"
        "Ian GRAHAM\nCentre for Academic Technology"
    )
