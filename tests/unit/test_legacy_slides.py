"""PowerPoint 97-2003 decks (`.ppt`) to text (services/parser/core/legacy_slides.py): the
slides' and notes' words, comments, header and footer text, and what is drawn on the masters,
not the masters' prompts. The files are Apache Tika's and Apache POI's test decks from the
corpus; the record walk is checked on records written here."""

from __future__ import annotations

import struct

import pytest

from services.common.media import PPT, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from services.parser.core.legacy_slides import _texts
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
    assert extract(data, PPT).text == (
        "Sample Powerpoint Slide\n\nCreated with Microsoft\nPowerpoint X for Mac\nService Release 1"
    )


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("tika/testComment.ppt", "Here is some text\n\nHere is a comment"),
        ("poi/WithComments.ppt", "This is a test comment\n\nIt is on the first, only slide"),
        ("tika/testPPT_masterText.ppt", "Text that I added to the master slide"),
        ("tika/testPPT_various.ppt", "This is the footer text.\n\nThis is the header text."),
        ("poi/43781.ppt", "© Swinburne University\n\nSecond run"),  # and a title master
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
    assert list(_texts(document)) == ["Company name", "Floods", "café", "Check the levels"]
