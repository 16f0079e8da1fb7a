"""XML documents to text (services/parser/core/xmldoc.py): their elements' words, not their
markup, sections' titles as headings; recognised at upload by their prolog or a namespaced
root (services/common/media.py). Real ones (a JATS article, a US patent) are in the corpus."""

from __future__ import annotations

import re

import pytest

from services.common.media import XML, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from tests.fixtures.corpus import corpus_file
from tests.fixtures.scaling import LINEAR_GROWTH_BOUND, growth

pytestmark = pytest.mark.unit

ARTICLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Publishing DTD v1.2//EN" "x.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink">
  <front><journal-meta><journal-id>Weir</journal-id><issn>1234-5678</issn></journal-meta>
    <article-meta><title-group><article-title>Levels at the weir</article-title></title-group>
    </article-meta></front>
  <body>
    <sec><title>Methods</title>
      <p>We measured <italic>E. coli</italic> at the <xref ref-type="fig">gauge</xref>.</p>
      <sec><title>Sampling</title><p>Twice a day.</p></sec>
    </sec>
  </body>
</article>
"""


def test_an_article_reads_as_words_with_its_sections_as_headings() -> None:
    assert sniff_media_type(ARTICLE) == XML
    parsed = extract(ARTICLE, XML)
    assert parsed.text == (
        "Weir\n1234-5678\n\nLevels at the weir\n\nMethods\n\n"
        "We measured E. coli at the gauge.\n\nSampling\n\nTwice a day."
    )
    assert [(h.level, h.title) for h in parsed.headings] == [(1, "Methods"), (2, "Sampling")]
    assert parsed.title == "Levels at the weir"


def test_an_opml_outline_reads_its_attributes_nested_ones_as_headings() -> None:
    outline = (
        b'<?xml version="1.0"?><opml version="2.0"><head><title>Weirs</title></head><body>'
        b'<outline text="Upstream"><outline text="Gauge&#10;one"/><outline text="Gauge two"/>'
        b'<outline title="Sluices"><outline text="North gate"/></outline></outline>'
        b'<outline text="Notes" type="link" url="http://x.y/z"/></body></opml>'
    )
    parsed = extract(outline, XML)
    assert (
        parsed.text == "Weirs\n\nUpstream\n\nGauge one\nGauge two\n\nSluices\n\nNorth gate\n\nNotes"
    )
    assert [(h.level, h.title) for h in parsed.headings] == [(1, "Upstream"), (2, "Sluices")]
    assert parsed.title == "Weirs"
    mind_map = extract(corpus_file("format-corpus/curation-outline-3.opml").read(), XML)
    assert "\n\nData resource\n\nCreation\n\nObservations\n\nFixed\nPreserve\n" in mind_map.text


def test_an_opml_outlines_notes_are_read_and_its_markup_is_not() -> None:
    # Outliners keep an item's body in `_note` (pandoc reads it); OPML 2.0's `text` may hold
    # encoded HTML. The notes were lost and `<strong>` was indexed as words.
    outline = (
        b'<opml version="2.0"><head><title>States</title></head><body>'
        b'<outline text="&lt;strong&gt;Nevada&lt;/strong&gt;" _note="I lived here once.&#10;'
        b'&#10;Loved   it."><outline text="Reno"/><outline text="Ely"/></outline>'
        b'<outline text="Utah" _note="Never went."/><outline text="Idaho"/></body></opml>'
    )
    parsed = extract(outline, XML)
    assert parsed.text == (
        "States\n\nNevada\n\nI lived here once.\n\nLoved it.\n\nReno\nEly\n\n"
        "Utah\n\nNever went.\n\nIdaho"
    )
    assert [(h.level, h.title) for h in parsed.headings] == [(1, "Nevada")]


def test_a_feeds_escaped_html_is_read_as_html() -> None:
    feed = (
        b'<rss xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>River news</title>'
        b"<item><title>Gates shut</title><description>&lt;p&gt;The &lt;b&gt;gates&lt;/b&gt;"
        b" shut at dawn.&lt;/p&gt;</description></item></channel></rss>"
    )
    parsed = extract(feed, XML)
    assert parsed.text == "River news\n\nGates shut\n\nThe gates shut at dawn."
    assert parsed.title == "River news"


def test_a_drawing_reads_as_the_words_it_draws_not_its_styles() -> None:
    # Walked as XML, an SVG upload's stylesheet and script were its first words (IDPF's
    # "Sous le vent" pages: ".ps00 {stroke:none;fill:#221F1F; }...").
    drawing = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><svg xmlns="http://www.w3.org/2000/svg">'
        "<title>Caf\xe9 chart</title><style>.bar { fill: #221F1F }</style><script>draw()"
        '</script><text x="1" y="2">Sales</text><text><tspan y="0">by</tspan><tspan y="9">'
        "month</tspan></text></svg>"
    ).encode("latin-1")
    assert sniff_media_type(drawing, "chart.svg") == XML
    parsed = extract(drawing, XML)
    assert (parsed.text, parsed.title) == ("Sales\nby month", "Caf\u00e9 chart")


def test_entities_are_not_expanded_and_files_not_read() -> None:
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY f SYSTEM "file:///etc/passwd">]>'
        b"<d><p>Levels &b; &f; end</p></d>"
    )
    text = extract(hostile, XML).text
    assert "aaaa" not in text
    assert "root:" not in text
    assert text.startswith("Levels")


def test_a_file_cut_short_gives_what_it_holds() -> None:
    parsed = extract(ARTICLE[: ARTICLE.index(b"<sec><title>Sampling")], XML)
    assert parsed.text.endswith("We measured E. coli at the gauge.")


def test_a_prefix_whose_namespace_was_cut_off_is_still_read() -> None:
    # A flat OpenDocument cut inside its root's namespace declarations (a corpus mutant):
    # lxml's QName refused the tags `office:document`, and the document ended in an error.
    cut = b'<?xml version="1.0"?><office:document><office:body><text:p>Weir 3</text:p>'
    assert extract(cut, XML).text == "Weir 3"


def test_xml_of_attributes_only_has_no_text_and_says_so() -> None:
    linkbase = b'<?xml version="1.0"?><linkbase><loc href="a.xsd#x" label="x"/></linkbase>'
    with pytest.raises(ParseError) as caught:
        extract(linkbase, XML)
    assert caught.value.code == "no_text"
    assert "only markup and attributes" in str(caught.value)


def test_markup_without_any_element_fails_saying_why() -> None:
    with pytest.raises(ParseError) as caught:
        extract(b'<?xml version="1.0"?>', XML)
    assert caught.value.code == "corrupt_file"


def nested(depth: int) -> bytes:
    return b'<?xml version="1.0"?>' + b"<s>" * depth + b"<p>deep</p>" + b"</s>" * depth


def test_deep_nesting_is_walked_without_recursion_and_linearly() -> None:
    assert extract(nested(2_000), XML).text == "deep"
    assert growth(lambda data: extract(data, XML), nested(500), nested(2_000)) < (
        LINEAR_GROWTH_BOUND
    )


def test_nesting_past_what_libxml2_reads_fails_saying_so() -> None:
    with pytest.raises(ParseError) as caught:
        extract(nested(5_000), XML)
    assert caught.value.code == "corrupt_file"
    assert "more than 2,048 levels deep" in str(caught.value)


@pytest.mark.parametrize(
    ("path", "title", "words"),
    [
        (
            "docling/pone.0234687.nxml",  # read as HTML, its elements ran together
            "Potential to reduce greenhouse gas emissions through different dairy cattle"
            " systems in subtropical regions",
            "1932-6203\n\nPublic Library of Science",
        ),
        ("docling/ipgD0701016.xml", "Cheese in form of a triangular pyramid", "US\nD0701016\nS1"),
    ],
)
def test_real_xml_documents_read_as_their_words(path: str, title: str, words: str) -> None:
    data = corpus_file(path).read()
    assert sniff_media_type(data) == XML
    parsed = extract(data, XML)
    assert parsed.title == title
    assert words in parsed.text
    assert re.search(r"</?[a-z][\w:-]*[\s/>]", parsed.text) is None  # no tags ("<4%" is text)


def feed(words: str, label: str, encoding: str) -> bytes:
    """An RSS feed whose declaration names `label`, its bytes written in `encoding`."""
    return (
        f'<?xml version="1.0" encoding="{label}"?>\n'
        f"<rss><channel><title>News</title><item><description>{words}</description></item>"
        "</channel></rss>"
    ).encode(encoding)


def test_utf8_under_a_declaration_naming_another_encoding_is_read_as_utf8() -> None:
    # Feeds and exports written from a template's `ISO-8859-1` header over UTF-8 text read as
    # "RelatÃ³rio" and "I" + "â" + two control characters + "m".
    words = "Relatório: I\u2019m at the café"
    assert words in extract(feed(words, "ISO-8859-1", "utf-8"), XML).text


@pytest.mark.parametrize(
    ("words", "encoding"),
    [("Relatório: café, ±2 cm", "iso-8859-1"), ("洪水の報告です", "shift_jis"), ("Weir", "utf-16")],
)
def test_a_declaration_naming_the_real_encoding_is_followed(words: str, encoding: str) -> None:
    assert words in extract(feed(words, encoding.upper(), encoding), XML).text
