"""List and heading numbers in OpenDocument files (services/parser/core/odf_numbering.py):
the files keep none of them in the text, so "2.1 Scope" read as "Scope". Documents here are
flat ODT written for each rule; pandoc's ordered-list test documents read with the numbers its
expectations imply (checked by hand, 2026-12-02)."""

from __future__ import annotations

import pytest

from services.common.media import FODT
from services.parser.core.extract import extract

pytestmark = pytest.mark.unit

NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:xml="http://www.w3.org/XML/1998/namespace"'
)


def number_level(level: int, num_format: str, suffix: str = ".", shown: int = 1) -> str:
    return (
        f'<text:list-level-style-number text:level="{level}" style:num-format="{num_format}"'
        f' style:num-suffix="{suffix}" text:display-levels="{shown}"/>'
    )


LISTS = (
    '<text:list-style style:name="L1">'
    + number_level(1, "1")
    + number_level(2, "a", ")")
    + number_level(3, "1", ".", 3)
    + "</text:list-style>"
    '<text:list-style style:name="B"><text:list-level-style-bullet text:level="1"'
    ' text:bullet-char="•"/></text:list-style>'
)


def document(body: str, styles: str = LISTS) -> bytes:
    return (
        f'<?xml version="1.0"?><office:document {NAMESPACES}'
        ' office:mimetype="application/vnd.oasis.opendocument.text">'
        f"<office:automatic-styles>{styles}</office:automatic-styles>"
        f"<office:body><office:text>{body}</office:text></office:body></office:document>"
    ).encode()


def items(*texts: str, attributes: str = "", style: str = "L1") -> str:
    inner = "".join(
        text
        if text.startswith("<")
        else f"<text:list-item><text:p>{text}</text:p></text:list-item>"
        for text in texts
    )
    return f'<text:list text:style-name="{style}" {attributes}>{inner}</text:list>'


def read(body: str, styles: str = LISTS) -> list[str]:
    return extract(document(body, styles), FODT).text.split("\n\n")


def test_numbered_items_nest_restart_and_bullets_stay_bare() -> None:
    nested = (
        "<text:list-item><text:p>Terms</text:p>"
        "<text:list><text:list-item><text:p>Goods</text:p>"
        "<text:list><text:list-item><text:p>Deep</text:p></text:list-item></text:list>"
        "</text:list-item><text:list-item><text:p>Services</text:p></text:list-item>"
        "</text:list></text:list-item>"
    )
    body = (
        items("Definitions")
        .replace("</text:list>", nested + "<text:list-item><text:p>Payment</text:p>"
                 "<text:p>More about payment.</text:p></text:list-item></text:list>")
        + items("A point", style="B")
    )  # fmt: skip
    assert read(body) == [
        "1. Definitions",
        "2. Terms",
        "a) Goods",
        "2.a.1. Deep",  # higher levels shown in their own formats
        "b) Services",
        "3. Payment",
        "More about payment.",
        "A point",
    ]


def test_a_list_restarts_unless_it_continues_one() -> None:
    body = (
        items("one", "two", attributes='xml:id="first"')
        + "<text:p>Between.</text:p>"
        + items("three", attributes='text:continue-numbering="true"')
        + items("again")
        + items("four", attributes='text:continue-list="first"')
    )
    assert read(body) == ["1. one", "2. two", "Between.", "3. three", "1. again", "4. four"]


def test_an_items_start_value_restarts_and_a_header_is_not_counted() -> None:
    body = items(
        "<text:list-header><text:p>Header</text:p></text:list-header>",
        "first",
        '<text:list-item text:start-value="7"><text:p>seventh</text:p></text:list-item>',
        "eighth",
        '<text:list-item text:start-value="99999999"><text:p>ninth</text:p></text:list-item>',
    )
    assert read(body) == ["Header", "1. first", "7. seventh", "8. eighth", "9. ninth"]


def test_headings_take_the_outline_styles_numbers() -> None:
    outline = (
        "<text:outline-style>"
        + number_level(1, "1", "").replace("list-level-style-number", "outline-level-style")
        + number_level(2, "1", "", 2).replace("list-level-style-number", "outline-level-style")
        + "</text:outline-style>"
    )
    headings = (
        '<style:style style:name="Heading_20_1" style:family="paragraph"'
        ' style:default-outline-level="1"/>'
        '<style:style style:name="Heading_20_2" style:family="paragraph"'
        ' style:default-outline-level="2"/>'
        '<style:style style:name="P4" style:family="paragraph"'
        ' style:parent-style-name="Heading_20_1"/>'
    )
    body = (
        '<text:h text:style-name="P4" text:outline-level="1">Scope</text:h>'
        '<text:h text:style-name="Heading_20_2" text:outline-level="2">Goods</text:h>'
        '<text:h text:style-name="Heading_20_2" text:outline-level="2">Services</text:h>'
        '<text:h text:style-name="P4" text:outline-level="1" text:is-list-header="true">'
        "Annex</text:h>"
        '<text:h text:style-name="Heading_20_1" text:outline-level="1">Payment</text:h>'
        '<text:h text:outline-level="1">Unstyled</text:h>'  # no heading style: not numbered
        '<text:h text:style-name="Heading_20_2" text:outline-level="2">Terms</text:h>'
    )
    assert read(body, outline + headings) == ["1 Scope", "1.1 Goods", "1.2 Services", "Annex",
                                              "2 Payment", "Unstyled", "2.1 Terms"]  # fmt: skip


def test_without_an_outline_numbering_headings_stay_bare() -> None:
    outline = (
        '<text:outline-style><text:outline-level-style text:level="1" style:num-format=""/>'
        "</text:outline-style>"
    )
    assert read('<text:h text:outline-level="1">Scope</text:h>', outline) == ["Scope"]
