"""The HTML extractor's guard against crowded start tags: libxml2 compares each attribute of a
tag with every one before it, so 100,000 attributes (1.1 MB) took 95 s, a parser worker's
whole time limit for one small upload. The text needs no attribute: a tag with more than
MAX_ATTRIBUTES reaches libxml2 without them, whichever way the attributes are written."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from services.parser.core import html
from services.parser.core.extract import extract
from tests.fixtures.scaling import LINEAR_GROWTH_BOUND, growth

pytestmark = pytest.mark.unit

COUNT = 5_000  # well past MAX_ATTRIBUTES, small enough for the old path to parse quickly


def crowded(separator: str, attribute: str) -> str:
    """A paragraph whose start tag holds COUNT attributes (`attribute` formats number i)."""
    attributes = separator.join(attribute.format(i=i) for i in range(COUNT))
    return f"<p {attributes}>crowded text</p><p id=last>after</p>"


WRITINGS = {
    "spaces, quoted values": crowded(" ", 'a{i}="v"'),
    "slashes as separators": crowded("/", 'a{i}="v"'),
    "no separator after a quoted value": crowded("", 'a{i}="v"'),
    "non-breaking spaces, not separators": crowded("\u00a0", 'a{i}="v"'),
    "names without values": crowded(" ", "a{i}"),
    "names starting with =": crowded(" ", "=a{i}"),
    "unquoted values with slashes": crowded(" ", "a{i}=v/w"),
    "quotes left open": crowded(" ", 'a{i}="v'),
    "< inside values": crowded("\t", "a{i}='<'"),
}


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What the HTML extractor hands to libxml2."""
    seen: list[bytes] = []
    parse = etree.fromstring

    def spy(data: bytes, parser: Any) -> Any:
        seen.append(data)
        return parse(data, parser)

    monkeypatch.setattr(html.etree, "fromstring", spy)
    return seen


@pytest.mark.parametrize("markup", WRITINGS.values(), ids=WRITINGS.keys())
def test_a_crowded_start_tag_reaches_the_parser_without_its_attributes(
    markup: str, parsed: list[bytes]
) -> None:
    text = extract(markup.encode(), "text/html").text
    assert text.split("\n\n") == ["crowded text", "after"]
    assert parsed[0].startswith(b"<p>crowded text</p>")  # and nothing of the 5,000
    assert b"<p id=last>" in parsed[0]  # other tags as they were


def test_ordinary_attributes_reach_the_parser_as_they_were(parsed: list[bytes]) -> None:
    at_limit = " ".join(f'data-{i}="{i}"' for i in range(html.MAX_ATTRIBUTES))
    markup = (
        f'<html lang="en"><body><div {at_limit}>kept</div>'
        '<a href="/x?a=1&b=2" title=\'a "quoted" > title\'>link</a><img src=x alt=y/></body>'
    )
    assert extract(markup.encode(), "text/html").text == "kept\nlink"
    assert parsed == [markup.encode()]


def test_parsing_grows_linearly_with_the_attributes_of_one_tag() -> None:
    def parse(markup: bytes) -> object:
        return extract(markup, "text/html")

    small = "<p " + " ".join(f'a{i}="v"' for i in range(4_000)) + ">x</p>"
    large = "<p " + " ".join(f'a{i}="v"' for i in range(16_000)) + ">x</p>"
    assert growth(parse, small.encode(), large.encode()) < LINEAR_GROWTH_BOUND


# Tags that never close: a pre-pass that needed the closing `>` failed at the end of the input
# and started again at the next `<`, reading the rest again each time (quadratic in the length).
UNCLOSED = {
    "quote left open": '<a x="',
    "single quote left open": "<a x='",
    "value missing": "<a x=",
    "name only": "<a x ",
    "slash": "<a/",
}


@pytest.mark.parametrize("fragment", UNCLOSED.values(), ids=UNCLOSED.keys())
def test_parsing_grows_linearly_with_tags_that_never_close(fragment: str) -> None:
    def parse(markup: bytes) -> object:
        return extract(markup, "text/html")

    small = ("text " + fragment * 4_000).encode()
    large = ("text " + fragment * 16_000).encode()
    assert growth(parse, small, large) < LINEAR_GROWTH_BOUND


@pytest.mark.parametrize("element", ["script", "STYLE"])
def test_a_script_or_style_is_no_markup_to_uncrowd(element: str) -> None:
    # A minified script's "a<b" was read as a start tag: its 150 "attributes" and a quoted
    # string ran past the end tag, and the rewrite took the end tag with it, so the page's
    # article was script (a recipe blog in trafilatura's test pages).
    page = (
        f"<{element}>for(;a<b" + " c=d" * 150 + f';s="x</{element}><p>The article.</p>'
        '<p title="y">More of it.</p>'
    )
    assert html.extract_html(page).text == "The article.\n\nMore of it."
