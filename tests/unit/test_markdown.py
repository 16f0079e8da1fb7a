"""Markdown files (services/parser/core/markdown.py): YAML front matter read as what it is."""

from __future__ import annotations

import pytest

from schemas.layout import Heading
from services.common.media import MARKDOWN
from services.parser.core.extract import MARKDOWN_PAGES, encode_markdown_pages, extract

pytestmark = pytest.mark.unit

POST = (
    b"---\n"
    b'title: "Flood gates: a history"\n'
    b"tags: [river, weir]\n"
    b"description: How the town kept the river out.\n"
    b"---\n\n"
    b"# Opening\n\n"
    b"The gates opened at dawn.\n"
)


def test_front_matter_is_no_heading_and_names_the_title() -> None:
    # CommonMark alone reads the block as a setext heading (its last line, then `---`):
    # "title: ... description: ..." was the document's first section and its level-1 title
    # was "Opening".
    parsed = extract(POST, MARKDOWN)
    assert parsed.title == "Flood gates: a history"
    assert [(h.level, h.title) for h in parsed.headings] == [(1, "Opening")]
    assert parsed.text.startswith(
        'title: "Flood gates: a history"\ntags: [river, weir]\n'
        "description: How the town kept the river out.\n\nOpening\n\n"
    )


@pytest.mark.parametrize(
    "front_matter",
    [b"tags: [river]\n", b"title: [unclosed\n", b"title: 2024\n", b"- a list\n", b""],
    ids=["no title", "not YAML", "not a string", "not a mapping", "empty"],
)
def test_without_a_title_in_its_front_matter_the_first_h1_is_the_title(
    front_matter: bytes,
) -> None:
    parsed = extract(b"---\n" + front_matter + b"---\n\n# Opening\n\nText.\n", MARKDOWN)
    assert parsed.title == "Opening"
    assert [(h.level, h.title) for h in parsed.headings] == [(1, "Opening")]
    assert parsed.text.endswith("Opening\n\nText.")


def test_a_setext_heading_after_text_is_still_a_heading() -> None:
    parsed = extract(b"Intro\n---\n\nText.\n", MARKDOWN)
    assert parsed.headings == [Heading(start=0, level=2, title="Intro")]


def test_a_remote_parsers_page_opening_with_a_rule_is_not_front_matter() -> None:
    # LlamaParse's pages are Markdown it wrote: a page may open with a rule, never with YAML.
    parsed = extract(encode_markdown_pages(["---\nIntro\n---\n\nText."]), MARKDOWN_PAGES)
    assert [(h.level, h.title) for h in parsed.headings] == [(2, "Intro")]
