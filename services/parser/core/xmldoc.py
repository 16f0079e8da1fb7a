"""XML documents (journal articles in JATS, patents, DocBook, feeds, XBRL...) to text: the
words of their elements, not their markup.

Read as plain text, an XML file was indexed with its tags, attributes and declarations; read
as HTML (a JATS article has `<p>` and `<title>`), elements HTML does not know ran into each
other ("eLifeElife2050-084X"). Here an element whose own text holds words (its text, or the
text after one of its children) is one block: its words and those of its children, as they
stand (an `<italic>` inside a paragraph stays in it). An element with only elements in it
is walked into. A `title` (or `heading`, `head`) directly inside a section-like element is a
heading, one level deeper for each section around it. A block that is HTML (a feed's escaped
item description) is read as HTML. An OPML outline (a mind map's, a podcast list's) keeps
its words in attributes: each `outline` is its `text`, a heading where outlines are nested
in it, a line where none are. lxml parses (libxml2: no entities expanded, no network,
recovering what it can of a damaged file).
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from services.common.encoding import utf8_whatever_its_label
from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ParseError, unreadable
from services.parser.core.html import feed_html
from services.parser.core.office_xml import office_xml
from services.parser.core.parsed import ParsedText
from services.parser.core.text import one_line, title_of

MAX_DEPTH = 2_048  # elements inside elements libxml2 reads (with huge_tree; else 256)
# The elements whose `title` child is a heading, and the names a heading goes by
_SECTIONS = frozenset({"sec", "section", "chapter", "part", "div", "appendix", "abstract"})
_HEADINGS = frozenset({"title", "heading", "head"})
_MAX_LEVEL = 6
_SVG = "{http://www.w3.org/2000/svg}svg"
_SVG_TITLE = "{http://www.w3.org/2000/svg}title"
_OUTLINE = "outline"  # OPML's element, its words in the `text` attribute (or `title`)
# The document's title: the first element of the first of these names that has words
_TITLES = ("article-title", "invention-title", "title")
# A file in base64 (see _binary)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_BASE64_LEAST = 256
_BASE64_LINE = 60
_BASE64_KINDS = (re.compile("[a-z]"), re.compile("[A-Z]"), re.compile("[0-9]"))
# A block holding HTML markup (linear: fixed alternatives, then one character)
_HTML_MARKUP = re.compile(
    r"<(?:p|br|div|a|img|span|b|i|em|strong|ul|ol|li|h[1-6]|table)[\s/>]", re.I
)


def extract_xml(data: bytes) -> ParsedText:
    """The words of the document's elements, block by block, its sections' titles as
    headings."""
    # UTF-8 bytes under a declaration naming another encoding (feeds generated from a
    # template's `ISO-8859-1` header) are read as UTF-8; libxml2 would follow the label.
    parser = etree.XMLParser(
        encoding="utf-8" if utf8_whatever_its_label(data) else None,
        resolve_entities=False,
        no_network=True,
        huge_tree=True,
        recover=True,
        remove_comments=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:  # nothing recoverable at all
        raise unreadable("the XML", error, "check the file and upload again") from None
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        # libxml2 stops reading there: say so rather than keep the text before it silently.
        raise ParseError(
            CORRUPT_FILE,
            f"the XML nests elements more than {MAX_DEPTH:,} levels deep, so the text after"
            " that point cannot be read; check the file and upload again",
        )
    if root is None:
        raise ParseError(CORRUPT_FILE, "the XML has no element; check the file and upload again")
    if (office := office_xml(root)) is not None:
        return office
    builder = TextBuilder()
    if root.tag == _SVG:
        return _drawing(root, builder)
    _walk(root, builder)
    return builder.build(title=_title(root))


def _drawing(root: Any, builder: TextBuilder) -> ParsedText:
    """An SVG drawing: the words it draws, read as an HTML page's SVG pictures are; walked as
    XML, its stylesheet and scripts were words too. Its title is its own `<title>`, and its
    text where it draws none (an icon), as for an HTML page."""
    feed_html(etree.tostring(root, encoding="unicode"), builder)
    named = root.find(_SVG_TITLE)
    title = one_line(named.text or "") if named is not None else ""
    if title and builder.empty:
        builder.add(title)
    return builder.build(title=title or None)


def _walk(root: Any, builder: TextBuilder) -> None:
    """Add the blocks under `root` in document order (a stack, not recursion: a file may nest
    deeper than Python's recursion limit)."""
    stack: list[tuple[Any, int]] = [(root, 0)]
    last_leaf: Any = None  # the parent of the last block, when that block was a leaf
    while stack and not builder.full:
        element, sections = stack.pop()
        if not isinstance(element.tag, str):
            continue  # a processing instruction or an entity left unexpanded
        name = _local_name(element.tag)
        if name == _OUTLINE and not _has_words(element):
            last_leaf = _add_outline(element, sections, builder, last_leaf)
            stack.extend((child, sections + 1) for child in reversed(element))
            continue
        if _has_words(element):
            # Leaves side by side (a patent's country, number, kind and date) make one
            # paragraph, a line each; a block with elements in it stands on its own.
            leaf = len(element) == 0
            tight = leaf and last_leaf is not None and last_leaf is element.getparent()
            _add_block(element, name, sections, builder, tight=tight)
            last_leaf = element.getparent() if leaf else None
            continue
        inside = sections + (name in _SECTIONS)
        stack.extend((child, inside) for child in reversed(element))


def _add_outline(element: Any, depth: int, builder: TextBuilder, last_leaf: Any) -> Any:
    """Add an OPML outline's words: a heading when outlines are nested in it, else a line
    (tight with the leaves beside it), then its note (`_note`, where outliners keep an item's
    body) a paragraph a blank line apart; return the parent of the last leaf added, as _walk
    keeps it."""
    words = one_line(str(element.get("text") or element.get("title") or ""))
    if "<" in words and _HTML_MARKUP.search(words):  # OPML 2.0: `text` may hold HTML
        scratch = TextBuilder(limit=len(words))
        feed_html(words, scratch)
        words = one_line(scratch.build().text)
    note = str(element.get("_note") or "")
    if not words and not note.strip():
        return last_leaf
    parent = element.getparent()
    if len(element):
        builder.heading(words, min(depth + 1, _MAX_LEVEL))
    else:
        builder.add(words, tight=last_leaf is not None and last_leaf is parent)
    for paragraph in note.split("\n\n"):
        builder.add(" ".join(paragraph.split()))
    return None if len(element) or note.strip() else parent


def _has_words(element: Any) -> bool:
    """Whether the element's own text (not its children's) holds anything but spaces."""
    if element.text and element.text.strip():
        return True
    return any(child.tail and child.tail.strip() for child in element)


def _add_block(
    element: Any, name: str, sections: int, builder: TextBuilder, *, tight: bool
) -> None:
    """Add one block: a heading, HTML read as HTML, or the element's words."""
    words = "".join(element.itertext())  # its children's tails too, not its own
    parent = element.getparent()
    in_section = parent is not None and _local_name(parent.tag) in _SECTIONS
    if name in _HEADINGS and in_section:
        builder.heading(words, min(max(sections, 1), _MAX_LEVEL))
    elif "<" in words and _HTML_MARKUP.search(words):
        feed_html(words, builder)
    elif not _binary(words):
        builder.add(" ".join(words.split()), tight=tight)


def _binary(words: str) -> bool:
    """Whether a block is a file in base64 (a FictionBook's cover, a picture inside a KML or
    a SOAP message), not words: 256 or more characters of the base64 alphabet, in lines of
    60 or more (the encoders' 64 or 76) where it is broken into lines, with small and
    capital letters and digits (a protein or DNA sequence has only capitals)."""
    lines = words.split()
    return (
        sum(map(len, lines)) >= _BASE64_LEAST
        and all(len(line) >= _BASE64_LINE for line in lines[:-1])
        and all(_BASE64.fullmatch(line) for line in lines)
        and all(kind.search(words) for kind in _BASE64_KINDS)
    )


def _title(root: Any) -> str | None:
    """The text of the first element named as in _TITLES (in that order of preference)."""
    found: dict[str, str] = {}
    for element in root.iter("{*}" + _TITLES[0], "{*}" + _TITLES[1], "{*}" + _TITLES[2]):
        name = _local_name(element.tag)
        if name not in found and (words := one_line("".join(element.itertext()))):
            found[name] = words
            if name == _TITLES[0]:
                break
    return next((title_of(found[name]) for name in _TITLES if name in found), None)


def _local_name(tag: str) -> str:
    """An element's name without its namespace, `{uri}name` or, where a damaged file lost
    the namespace's declaration, `prefix:name` (lxml's QName refuses that one)."""
    return tag.rpartition("}")[2].rpartition(":")[2]
