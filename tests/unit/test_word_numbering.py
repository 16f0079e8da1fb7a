"""List and heading numbers in DOCX (services/parser/core/numbering.py): Word keeps none of
them in the text, so "4.2 Termination" read as "Termination" and a clause could not be found
by its number. Documents here are python-docx's template (its "List Number" styles) and
numbering parts written for each rule; docling's numbered test documents read as its ground
truth shows them (checked by hand, 2026-12-02)."""

from __future__ import annotations

import io

import docx
import pytest
from lxml import etree

from services.common.media import DOCX
from services.parser.core.extract import extract
from services.parser.core.numbering import Numbering

pytestmark = pytest.mark.unit

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS = f'xmlns:w="{W}"'


def level(number: int, text: str, kind: str = "decimal", extra: str = "") -> str:
    return (
        f'<w:lvl w:ilvl="{number}"><w:start w:val="1"/><w:numFmt w:val="{kind}"/>'
        f'<w:lvlText w:val="{text}"/>{extra}</w:lvl>'
    )


OUTLINE = (  # abstract 0: 1. / 1.1. / a) / (i) / bullet
    '<w:abstractNum w:abstractNumId="0">'
    + level(0, "%1.")
    + level(1, "%1.%2.")
    + level(2, "%3)", "lowerLetter")
    + level(3, "(%4)", "lowerRoman")
    + level(4, "\u2022", "bullet")
    + "</w:abstractNum>"
)


def numbering_xml(*parts: str) -> bytes:
    return f"<w:numbering {NS}>{''.join(parts)}</w:numbering>".encode()


def number(key: int, abstract: int, overrides: str = "") -> str:
    return f'<w:num w:numId="{key}"><w:abstractNumId w:val="{abstract}"/>{overrides}</w:num>'


def document(paragraphs: list[tuple[str, int, int]], numbering: bytes) -> bytes:
    """A DOCX of paragraphs (text, numId, level) over the numbering part given."""
    word = docx.Document()
    for text, key, depth in paragraphs:
        paragraph = word.add_paragraph(text)
        properties = paragraph._p.get_or_add_pPr()
        properties.append(
            etree.fromstring(
                f'<w:numPr {NS}><w:ilvl w:val="{depth}"/><w:numId w:val="{key}"/></w:numPr>'
            )
        )
    part = word.part.numbering_part
    part._element = etree.fromstring(numbering)
    buffer = io.BytesIO()
    word.save(buffer)
    return buffer.getvalue()


def read(paragraphs: list[tuple[str, int, int]], *parts: str) -> list[str]:
    data = document(paragraphs, numbering_xml(*parts))
    return extract(data, DOCX).text.split("\n\n")


def test_the_templates_numbered_list_styles_count_and_bullets_stay_bare() -> None:
    word = docx.Document()
    word.add_paragraph("Scope of the works", style="List Number")
    word.add_paragraph("Payment", style="List Number")
    word.add_paragraph("Between the lists.")
    word.add_paragraph("A list of its own", style="List Number 2")
    word.add_paragraph("Termination", style="List Number")
    word.add_paragraph("A point", style="List Bullet")
    buffer = io.BytesIO()
    word.save(buffer)
    assert extract(buffer.getvalue(), DOCX).text.split("\n\n") == [
        "1. Scope of the works",
        "2. Payment",
        "Between the lists.",
        "1. A list of its own",
        "3. Termination",
        "A point",
    ]


def test_levels_nest_restart_and_take_their_formats() -> None:
    paragraphs = [
        ("Definitions", 1, 0),
        ("Terms", 1, 1),
        ("Goods", 1, 2),
        ("Services", 1, 2),
        ("Delivery", 1, 3),
        ("Returns", 1, 3),
        ("Notes", 1, 4),
        ("Interpretation", 1, 1),
        ("Words", 1, 2),
        ("Obligations", 1, 0),
        ("Of the seller", 1, 1),
    ]
    assert read(paragraphs, OUTLINE, number(1, 0)) == [
        "1. Definitions",
        "1.1. Terms",
        "a) Goods",
        "b) Services",
        "(i) Delivery",
        "(ii) Returns",
        "Notes",
        "1.2. Interpretation",
        "a) Words",
        "2. Obligations",
        "2.1. Of the seller",
    ]


def test_lists_of_one_abstract_count_on_unless_restarted() -> None:
    restart = '<w:lvlOverride w:ilvl="0"><w:startOverride w:val="1"/></w:lvlOverride>'
    paragraphs = [("a", 1, 0), ("b", 1, 0), ("c", 2, 0), ("d", 3, 0), ("e", 3, 0)]
    assert read(paragraphs, OUTLINE, number(1, 0), number(2, 0), number(3, 0, restart)) == [
        "1. a",
        "2. b",
        "3. c",
        "1. d",
        "2. e",
    ]


def test_num_id_0_takes_the_number_away_and_empty_items_still_count() -> None:
    paragraphs = [("first", 1, 0), ("", 1, 0), ("plain", 0, 0), ("third", 1, 0)]
    assert read(paragraphs, OUTLINE, number(1, 0)) == ["1. first", "plain", "3. third"]


def test_legal_numbering_shows_every_level_in_decimal() -> None:
    legal = (
        '<w:abstractNum w:abstractNumId="5">'
        + level(0, "Article %1", "upperRoman")
        + level(1, "%1.%2", "decimal", "<w:isLgl/>")
        + "</w:abstractNum>"
    )
    paragraphs = [("Scope", 1, 0), ("Parties", 1, 0), ("Buyer", 1, 1)]
    assert read(paragraphs, legal, number(1, 5)) == [
        "Article I Scope",
        "Article II Parties",
        "2.1 Buyer",
    ]


def test_a_skipped_level_shows_and_keeps_its_start() -> None:
    # Word, and docling's unit_test_headers_numbered.docx: 2 / 2.1.1 / 2.2
    paragraphs = [("Section 2", 1, 0), ("Deep", 1, 2), ("Next", 1, 1)]
    three = (
        '<w:abstractNum w:abstractNumId="0">'
        + "".join(level(n, ".".join(f"%{m + 1}" for m in range(n + 1))) for n in range(3))
        + "</w:abstractNum>"
    )
    assert read(paragraphs, three, number(1, 0)) == ["1 Section 2", "1.1.1 Deep", "1.2 Next"]


def test_a_heading_style_linked_to_a_list_is_numbered_by_its_style() -> None:
    styles = etree.fromstring(
        f"<w:styles {NS}>"
        '<w:style w:type="paragraph" w:styleId="H1"><w:pPr><w:numPr><w:numId w:val="1"/>'
        "</w:numPr></w:pPr></w:style>"
        '<w:style w:type="paragraph" w:styleId="H2"><w:basedOn w:val="H1"/>'
        '<w:pPr><w:numPr><w:ilvl w:val="1"/></w:numPr></w:pPr></w:style>'
        "</w:styles>"
    )
    numbering = Numbering(etree.fromstring(numbering_xml(OUTLINE, number(1, 0))), styles)

    def paragraph(style: str) -> object:
        return etree.fromstring(f'<w:p {NS}><w:pPr><w:pStyle w:val="{style}"/></w:pPr></w:p>')

    assert [numbering.label(paragraph(s), s) for s in ("H1", "H2", "H2", "H1", "Body")] == [
        "1.",
        "1.1.",
        "1.2.",
        "2.",
        None,
    ]


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("upperLetter", ["A", "B", "Z", "AA"]),
        ("lowerRoman", ["i", "ii", "xxvi", "xxvii"]),
        ("decimalZero", ["01", "02", "26", "27"]),
        ("ordinal", ["1", "2", "26", "27"]),  # beyond the common formats: decimal
    ],
)
def test_number_formats(kind: str, values: list[str]) -> None:
    abstract = f'<w:abstractNum w:abstractNumId="0">{level(0, "%1", kind)}</w:abstractNum>'
    labels = read([(str(n), 1, 0) for n in range(1, 28)], abstract, number(1, 0))
    assert [labels[i].split()[0] for i in (0, 1, 25, 26)] == values


def test_a_hostile_start_gives_a_short_label() -> None:
    abstract = (
        '<w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:start w:val="999999"/>'
        '<w:numFmt w:val="lowerLetter"/><w:lvlText w:val="%1."/></w:lvl></w:abstractNum>'
    )
    assert read([("item", 1, 0)], abstract, number(1, 0)) == ["999999. item"]
