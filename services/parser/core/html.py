"""HTML to plain text with lxml (libxml2's HTML parser), headings kept with their level.

Not `html.parser`: on Python 3.11 it backtracks quadratically on malformed markup (80 KB of
`<a ` took a minute) and raises on some of it; libxml2 parses any input in linear time.
"""

from __future__ import annotations

import re
from itertools import islice

from lxml import etree

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ParseError
from services.parser.core.parsed import ParsedText
from services.parser.core.text import MAX_TEXT_CHARS, one_line

# Markup beyond this is not read: plenty for the text limit, and bounded parse work.
MAX_HTML_CHARS = 2 * MAX_TEXT_CHARS

# MathML's annotations hold the formula again in another notation (a page's TeX source).
# Ruby's reading aid (<rt>, and <rp>'s brackets for browsers without ruby) is left out, as
# DOCX's and OpenDocument's: read inline, "山路<rt>やまみち</rt>を" was "山路やまみちを"
# (IDPF's Kusamakura, NHK's easy-Japanese news).
_SKIP_TAGS = frozenset(
    {"script", "style", "template", "iframe", "annotation", "annotation-xml", "rt", "rp"}
)
# A <noscript> is what a browser without scripts shows, as Sluice runs none: read where it
# holds a page's content (Google's blogs keep each post in a script's template and again in
# a noscript: skipped, the post was lost), not where it is a notice ("enable JavaScript to
# see the comments"), told apart by length. Counting stops early: bounded work for each. One
# whose text is markup (a page saved by a browser that ran scripts keeps a noscript's
# `<img ...>` as text) is no content either.
_NOSCRIPT = "noscript"
_NOSCRIPT_CONTENT_CHARS = 500
_NOSCRIPT_PIECES = 1000
_MARKUP_AS_TEXT = re.compile(r"<[A-Za-z/!]")
# Of an SVG picture, what it draws as words is read: each <text> a line, <foreignObject>'s
# HTML as HTML. Its other marks draw no words, and what it defines, titles or describes is
# not drawn (a fixed-layout EPUB, IDPF's "Sous le vent", sets every page's words in SVG text:
# skipped whole, the book had none). A <tspan> on a new line (a y other than the one before
# it, or a dy that moves it) is a space apart from the text before it; one on the same line
# is not (that book splits words there, "av" "ec", to kern them).
_SVG = "svg"
_SVG_TEXT = frozenset({"text", "foreignobject"})
_SVG_UNDRAWN = frozenset(
    {"defs", "symbol", "clippath", "mask", "pattern", "marker", "title", "desc", "metadata"}
)
_SVG_SPAN = "tspan"
_ZERO_LENGTH = re.compile(r"[+-]?0*\.?0*[a-z%]*", re.IGNORECASE)
# MathML is read as DOCX equations are: its pieces a space apart, without the invisible
# operators (function application, invisible times), so "2x+y" is not one word "2x+y".
_MATH = "math"
_INVISIBLE_OPERATORS = str.maketrans("", "", "\u2061\u2062\u2063\u2064")
_HEADING_LEVELS = {f"h{level}": level for level in range(1, 7)}
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "details",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "head",
        "header", "hr", "html", "li", "main", "nav", "noscript", "ol", "p", "pre", "section",
        "summary", "table", "tbody", "td", "tfoot", "th", "thead", "title", "tr", "ul",
    }
    | _HEADING_LEVELS.keys()
)  # fmt: skip
_PARAGRAPH_TAGS = frozenset({"p", "pre", "blockquote", "table", "ul", "ol", "dl"})
# An element a browser does not show: inline CSS that hides it (a mail's "preheader", text
# kept for search engines). The `hidden` attribute too, but not `hidden="until-found"` (text
# a page's search finds and opens).
_HIDING_STYLE = re.compile(r"(?:display\s*:\s*none|visibility\s*:\s*hidden)\b", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
# libxml2's HTML parser compares each attribute of a tag with every one before it: 100,000
# attributes on one tag (1.1 MB) took 95 s, a worker's whole time limit for one small upload.
# The text needs no attribute, so a start tag with more than MAX_ATTRIBUTES loses them all
# before parsing. The pattern follows HTML's tokenizer (a name starts at anything but space,
# `/` or `>` and ends at space, `/`, `>` or `=`; a value is quoted, or runs to space or `>`)
# and never backtracks (atomic groups, possessive quantifiers): linear time on any input.
MAX_ATTRIBUTES = 100
_WS = r"[\t\n\f\r ]"
_ATTRIBUTE = (  # a name may follow a quoted value with no space (a parse error browsers accept)
    rf"(?>[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r />=]*+"
    rf"(?>{_WS}*+={_WS}*+(?>\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >]*+))?+)"
)
_ONE_ATTRIBUTE = re.compile(_ATTRIBUTE)
# A start tag, or as much of one as there is: it always matches where a tag opens, so a scan
# never starts again inside text it has read.
_START_TAG = re.compile(rf"<([A-Za-z][^\t\n\f\r />]*+)(?:{_ATTRIBUTE})*+[\t\n\f\r /]*+>?+")

# An XHTML document type with an internal subset (`<!DOCTYPE html [<!ENTITY ...>]>`, where
# e-book tools declare entities): libxml2's HTML parser ends the document type at the first
# `>`, so the rest ("]>") was the page's first words. The subset goes before parsing; its
# entities are not expanded (one naming a file must never be read). It is looked for once, in
# the document's head, and the pattern never backtracks: linear time on any input.
_DOCTYPE = re.compile(r"<!DOCTYPE\b", re.IGNORECASE)
_DOCTYPE_HEAD = 4096
_SUBSET = re.compile(r"(<!DOCTYPE\b[^\[>]*+)\[(?>[^\]\"']++|\"[^\"]*+\"|'[^']*+')*+\]\s*+>", re.I)


def _without_subset(markup: str) -> str:
    """The markup with its document type's internal subset, if any, taken out."""
    found = _DOCTYPE.search(markup, 0, _DOCTYPE_HEAD)
    subset = _SUBSET.match(markup, found.start()) if found is not None else None
    if subset is None:
        return markup
    return f"{markup[: subset.start()]}{subset.group(1).rstrip()}>{markup[subset.end() :]}"


# A script's or a style sheet's text is no markup (libxml2 reads it raw up to its end tag):
# read as tags, a minified script's "a<b" with a quoted string in what followed made one
# "start tag" of 7 KB that ran past `</script>`, and its rewrite took that end tag with it, so
# the rest of the page was script (a recipe blog's whole article, trafilatura's test pages).
_RAW_TEXT_ENDS = {name: re.compile(f"</{name}", re.IGNORECASE) for name in ("script", "style")}


def _uncrowd(markup: str) -> str:
    """The markup with every start tag as `_uncrowded` leaves it, scripts and style sheets
    as they are. One pass: each search starts where the last one ended."""
    pieces: list[str] = []
    at = 0
    while (tag := _START_TAG.search(markup, at)) is not None:
        pieces += (markup[at : tag.start()], _uncrowded(tag))
        at = tag.end()
        end = _RAW_TEXT_ENDS.get(tag.group(1).lower())
        if end is not None:  # its text runs to its end tag (or to the end of the markup)
            closing = end.search(markup, at)
            stop = len(markup) if closing is None else closing.start()
            pieces.append(markup[at:stop])
            at = stop
    pieces.append(markup[at:])
    return "".join(pieces)


def _uncrowded(tag: re.Match[str]) -> str:
    """The start tag without its attributes if it has more than MAX_ATTRIBUTES, else as is."""
    text = tag.group()
    if len(text) <= 2 * MAX_ATTRIBUTES or not text.endswith(">"):
        return text
    count, at = 0, tag.end(1) - tag.start()
    while count <= MAX_ATTRIBUTES and (attribute := _ONE_ATTRIBUTE.match(text, at)) is not None:
        count, at = count + 1, attribute.end()
    return f"<{tag.group(1)}>" if count > MAX_ATTRIBUTES else text


class _Walker:
    """Turns the element tree into blocks: a block ends at every block-level tag."""

    def __init__(self, builder: TextBuilder) -> None:
        self.builder = builder
        self.title_parts: list[str] = []
        self.first_h1: str | None = None
        self._inline: list[str] = []
        self._loose = True  # the first block follows whatever came before after a blank line
        self._skip = 0
        self._pre = 0
        self._in_title = False
        self._heading: tuple[int, list[str]] | None = None
        self._math = 0
        self._math_pieces: list[str] = []
        self._svg = 0  # depth of SVG pictures
        self._svg_text = 0  # depth of their text (and foreign objects) within them
        self._svg_y: str | None = None  # the y of the text's last line

    def start(
        self,
        tag: str,
        text: str | None,
        *,
        hidden: bool = False,
        line: tuple[str | None, str | None] = (None, None),
    ) -> None:
        """An element starts: `line` is its y and dy (an SVG text's lines are tspans)."""
        if self._skip or tag in _SKIP_TAGS or hidden or (self._svg and tag in _SVG_UNDRAWN):
            self._skip += 1
            return
        if tag == _MATH:
            self._math += 1
        elif tag == _SVG:
            self._svg += 1
        elif self._svg and tag in _SVG_TEXT:
            self._svg_text += 1
            self._svg_y = None
            self._flush()
        elif self._svg_text and tag == _SVG_SPAN:
            self._span(*line)
        self._boundary(tag)
        if self._heading is not None and tag in _BLOCK_TAGS:
            # a line break inside a heading (`<h1>Circles<br/>and shapes</h1>`, an EPUB's
            # title page) parts its words as it does elsewhere: "Circlesand" was one word
            self._heading[1].append(" ")
        if tag == "title":
            self._in_title = True
        elif tag == "pre":
            self._pre += 1
        elif tag in _HEADING_LEVELS:
            self._heading = (_HEADING_LEVELS[tag], [])
        self.data(text)

    def end(self, tag: str, tail: str | None) -> None:
        if self._skip:
            self._skip -= 1
        else:
            if tag == _SVG and self._svg:
                self._svg -= 1
            elif self._svg and tag in _SVG_TEXT and self._svg_text:
                self._svg_text -= 1
                self._flush()
            if tag == _MATH and self._math:
                self._math -= 1
                if not self._math:
                    formula = " ".join(self._math_pieces)
                    self._math_pieces.clear()
                    self.data(formula)
            self._boundary(tag)
            if tag == "title":
                self._in_title = False
            elif tag == "pre":
                self._pre = max(0, self._pre - 1)
            elif tag in _HEADING_LEVELS and self._heading is not None:
                level, parts = self._heading
                self._heading = None
                heading = self.builder.heading("".join(parts), level)
                if heading is not None and level == 1 and self.first_h1 is None:
                    self.first_h1 = heading.title
                self._loose = True
        self.data(tail)

    def data(self, text: str | None) -> None:
        if not text or self._skip or (self._svg and not self._svg_text):
            return
        if self._math:
            if piece := " ".join(text.translate(_INVISIBLE_OPERATORS).split()):
                self._math_pieces.append(piece)
            return
        if self._in_title:
            self.title_parts.append(text)
        elif self._heading is not None:
            self._heading[1].append(text)
        elif self._pre:
            self._inline.append(text)
        else:
            # white space collapses across elements too, as a browser shows it: "a <b> b</b>"
            # is "a b"
            piece = _SPACES.sub(" ", text)
            if piece[:1] == " " and self._inline and self._inline[-1][-1:] == " ":
                piece = piece[1:]
            if piece:
                self._inline.append(piece)

    @property
    def in_svg(self) -> bool:
        """Whether the walk is inside an SVG picture."""
        return self._svg > 0

    def _span(self, y: str | None, dy: str | None) -> None:
        """A tspan on a new line is a space apart from the text before it."""
        moved = y is not None and y != self._svg_y
        if dy is not None and (first := dy.replace(",", " ").split()[:1]):
            moved = moved or not _ZERO_LENGTH.fullmatch(first[0])
        self._svg_y = y if y is not None else self._svg_y
        if moved and self._inline and not self._inline[-1][-1:].isspace():
            self._inline.append(" ")

    def finish(self) -> None:
        self._flush()

    def _boundary(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in _PARAGRAPH_TAGS or tag in _HEADING_LEVELS:
            self._loose = True

    def _flush(self) -> None:
        if not self._inline:
            return
        text = "".join(self._inline)
        self._inline.clear()
        block = text if self._pre else text.strip(" ")
        if self.builder.add(block, tight=not self._loose) is not None:
            self._loose = False


def feed_html(markup: str, builder: TextBuilder) -> _Walker:
    """Add the visible text of `markup` to `builder`: scripts and styles dropped, blocks on
    their own lines, headings recorded. Returns the walker (title, first H1)."""
    walker = _Walker(builder)
    markup = _without_subset(markup[:MAX_HTML_CHARS].replace("\x00", ""))
    markup = _uncrowd(markup)
    data = markup.encode("utf-8", errors="replace")
    # huge_tree: nesting up to 2,048 deep (not 256); the input is bounded above.
    parser = etree.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, huge_tree=True
    )
    try:
        root = etree.fromstring(data, parser) if data.strip() else None
    except etree.LxmlError:  # "Document is empty" and the like: no text, said by the caller
        root = None
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        # libxml2 stops reading there: say so rather than keep the text before it silently.
        raise ParseError(
            CORRUPT_FILE,
            "the HTML nests elements more than 2,048 levels deep (unclosed tags?), so the "
            "text after that point cannot be read; close the tags or save the page again "
            "from a browser, and upload again",
        )
    if root is None:
        return walker
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            line = (element.get("y"), element.get("dy")) if tag == _SVG_SPAN else (None, None)
            hidden = (
                _hidden(element)
                or (walker.in_svg and _undisplayed(element))
                or (tag == _NOSCRIPT and _notice(element))
            )
            walker.start(tag, element.text, hidden=hidden, line=line)
        else:
            walker.end(tag, element.tail if element is not root else None)
        if builder.full:
            break
    walker.finish()
    return walker


def _notice(element: etree._Element) -> bool:
    """Whether a <noscript> holds a notice (fewer than _NOSCRIPT_CONTENT_CHARS) or markup
    kept as text, not content."""
    chars = 0
    for piece in islice(element.itertext(), _NOSCRIPT_PIECES):
        if _MARKUP_AS_TEXT.search(piece):
            return True
        chars += len(piece.strip())
        if chars >= _NOSCRIPT_CONTENT_CHARS:
            return False
    return True


def _undisplayed(element: etree._Element) -> bool:
    """Whether SVG's presentation attributes hide the element (`display="none"`,
    `visibility="hidden"`); in HTML such attributes hide nothing."""
    display, visibility = element.get("display"), element.get("visibility")
    return (display or "").strip() == "none" or (visibility or "").strip() == "hidden"


def _hidden(element: etree._Element) -> bool:
    """Whether a browser leaves the element out: its `hidden` attribute, or inline CSS."""
    hidden = element.get("hidden")
    if hidden is not None and hidden.strip().lower() != "until-found":
        return True
    style = element.get("style")
    return style is not None and _HIDING_STYLE.search(style) is not None


def extract_html(markup: str) -> ParsedText:
    """Turn HTML into text; the title is <title>, else the first <h1>. A page whose only
    words are its title (a redirect page, a stub) has its title as its text."""
    builder = TextBuilder()
    walker = feed_html(markup, builder)
    title = one_line("".join(walker.title_parts)) or walker.first_h1
    if title and builder.empty:
        builder.add(title)
    return builder.build(title=title)
