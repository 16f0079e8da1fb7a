"""Unit tests for media-type sniffing and filename sanitising."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass

import pytest

from services.common import media
from services.common.media import (
    ALLOWED_MEDIA_TYPES,
    DOC,
    DOCX,
    EMAIL,
    EPUB,
    FODG,
    FODP,
    FODS,
    FODT,
    HTML,
    MARKDOWN,
    MSG,
    NOTEBOOK,
    ODG,
    ODP,
    ODS,
    ODT,
    PDF,
    PLAIN,
    PPT,
    PPTX,
    RTF,
    SBV,
    SIGNED,
    SRT,
    VTT,
    XLS,
    XLSB,
    XLSX,
    XML,
    sanitize_filename,
    sniff_media_type,
)
from tests.fixtures.cases import Case
from tests.fixtures.corpus import CORPUS_DIR
from tests.fixtures.documents import (
    EXAMPLES,
    docx_with_headings,
    main_part_moved,
    opendocument,
    pptx_deck,
    ratio_bomb,
    xlsx_workbook,
    zip_bytes,
)
from tests.fixtures.scaling import LINEAR_GROWTH_BOUND, growth


@dataclass(frozen=True)
class Sniff:
    """Input to sniff_media_type."""

    data: bytes
    filename: str | None = None


def _zip(entries: dict[str, bytes]) -> bytes:
    """Return a stored (uncompressed) zip archive holding the given entries."""
    return zip_bytes(entries, zipfile.ZIP_STORED)


def _example(name: str) -> bytes:
    """Return the bytes of an example file."""
    return (EXAMPLES / name).read_bytes()


def flat_opendocument(kind: str) -> bytes:
    """The head of a flat OpenDocument naming `kind` in its root, as LibreOffice writes it."""
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n\n<office:document xmlns:office='
        b'"urn:oasis:names:tc:opendocument:xmlns:office:1.0" office:version="1.3"'
        b' office:mimetype="application/vnd.oasis.opendocument.' + kind.encode() + b'">'
        b"<office:body/></office:document>"
    )


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
RANDOM = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(16))

GS_BANNER = (
    b"GPL Ghostscript 10.02.0 (2023-09-13)\nCopyright (C) 2023 Artifex Software, Inc.  All"
    b" rights reserved.\nThis software is supplied under the GNU AGPLv3 and comes with NO"
    b" WARRANTY:\nsee the file COPYING for details.\n"
)
SNIFF_CASES: list[Case[Sniff, str | None]] = [
    Case("pdf magic", Sniff(b"%PDF-1.7\n1 0 obj\n"), PDF),
    Case("pdf ignores a lying filename", Sniff(b"%PDF-1.4\n", "notes.txt"), PDF),
    Case("docx zip", Sniff(_zip({"word/document.xml": b"<w:document/>"})), DOCX),
    Case("pptx zip", Sniff(_zip({"ppt/presentation.xml": b"<p:presentation/>"})), PPTX),
    Case("xlsx zip", Sniff(_zip({"xl/workbook.xml": b"<workbook/>"})), XLSX),
    # The main part is where the package's relationship points (pandoc's tests hold a
    # `word/document2.xml`); found by name only, such a DOCX was refused as a plain ZIP.
    Case(
        "docx with its main part elsewhere",
        Sniff(main_part_moved(docx_with_headings(), "word/document.xml", "word/document2.xml")),
        DOCX,
    ),
    Case(
        "pptx with its main part elsewhere",
        Sniff(main_part_moved(pptx_deck(), "ppt/presentation.xml", "ppt/deck.xml")),
        PPTX,
    ),
    Case(
        "xlsx with its main part elsewhere",
        Sniff(main_part_moved(xlsx_workbook(), "xl/workbook.xml", "xl/book.xml")),
        XLSX,
    ),
    Case(
        "an excel binary workbook (.xlsb) by its content type",
        Sniff(
            _zip(
                {
                    "[Content_Types].xml": b'<Types><Override PartName="/xl/book.bin"'
                    b' ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/>'
                    b"</Types>",
                    "xl/book.bin": b"\x83\x01\x00",
                }
            )
        ),
        XLSB,
    ),
    Case("calamine's xlsb", Sniff((CORPUS_DIR / "calamine/issues.xlsb").read_bytes()), XLSB),
    Case("pptx from python-pptx", Sniff(pptx_deck(), "deck.docx"), PPTX),
    Case("xlsx from openpyxl", Sniff(xlsx_workbook()), XLSX),
    Case("docx from python-docx", Sniff(docx_with_headings()), DOCX),
    Case("zip bomb is no document", Sniff(ratio_bomb(unpacked=8 * 1024 * 1024)), None),
    Case("link and list make markdown", Sniff(b"Intro\n- see [docs](http://x.y/z)\n"), MARKDOWN),
    Case("rtf opening", Sniff(b"{\\rtf1\\ansi Hello\\par}"), RTF),
    Case("opendocument text", Sniff(opendocument("text")), ODT),
    Case("opendocument spreadsheet", Sniff(opendocument("spreadsheet")), ODS),
    Case("opendocument presentation", Sniff(opendocument("presentation")), ODP),
    Case("opendocument drawing", Sniff(opendocument("drawing")), ODG),
    Case("flat opendocument text", Sniff(flat_opendocument("text")), FODT),
    Case("flat opendocument spreadsheet", Sniff(flat_opendocument("spreadsheet")), FODS),
    Case("flat opendocument presentation", Sniff(flat_opendocument("presentation")), FODP),
    Case("flat opendocument drawing", Sniff(flat_opendocument("graphics")), FODG),
    Case("flat opendocument of another type is xml", Sniff(flat_opendocument("chart")), XML),
    Case("xml by its declaration", Sniff(b'<?xml version="1.0"?><article>x</article>'), XML),
    Case("webvtt by its signature", Sniff(b"WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n"), VTT),
    Case("subrip by its first cue", Sniff(b"1\n00:00:01,000 --> 00:00:02,000\nHi\n"), SRT),
    Case("jupyter notebook", Sniff(b'{"cells": [{"cell_type": "code", "source": "x"}]}'), NOTEBOOK),
    Case(
        "webvtt after a bom, with a title",
        Sniff(b"\xef\xbb\xbfWEBVTT - a title\n\n00:01.000 --> 00:02.000\nHello\n"),
        VTT,
    ),
    Case("a word glued to WEBVTT is no signature", Sniff(b"WEBVTTX is not a signature\n"), PLAIN),
    Case("a numbered line is no subrip cue", Sniff(b"1\nThe first point of the plan.\n"), PLAIN),
    Case("subrip with hours and a dot", Sniff(b"12\n01:02:03.456 --> 01:02:05.000\nHi\n"), SRT),
    Case("subviewer by its first timing", Sniff(b"0:00:00.378,0:00:11.378\nHi\n"), SBV),
    Case(
        "xml with a doctype and its entities",
        Sniff(b'<!DOCTYPE PATDOC SYSTEM "a.dtd" [\n<!ENTITY e SYSTEM "f">\n]>\n<PATDOC>x'),
        XML,
    ),
    Case(
        "xml by a namespaced root (a feed)",
        Sniff(b'<rss xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel>'),
        XML,
    ),
    Case(
        "xhtml with an xml declaration is html",
        Sniff(b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><p>x</p>'),
        HTML,
    ),
    Case("a tag in a sentence is no xml", Sniff(b"<note>the gates</note> stay shut"), PLAIN),
    Case(
        # trafilatura's test pages: WordPress pages that open with their head, read as XML
        "html whose document type names html and that starts with its head",
        Sniff(b'<!DOCTYPE html><head><meta charset="UTF-8"><title>Markt</title></head>'),
        HTML,
    ),
    Case(
        "xhtml by its document type",
        Sniff(b'<?xml version="1.0"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN">\n<html>'),
        HTML,
    ),
    Case(
        # a WordPress page PHP printed 4.9 KB of warnings before, read as plain text
        "html after a server's warnings",
        Sniff(
            b"<br />\n<b>Deprecated</b>: new by reference in <b>x.php</b><br />\n" * 80
            + b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN">\n<html>'
        ),
        HTML,
    ),
    Case(
        # trafilatura's laweekly.com page: 50 KB of style sheets before its document type
        "html that opens with its style sheets",
        Sniff(b"<style>\n  .boxes { opacity: 1; }\n" + b"  .a { color: red; }\n" * 3000),
        HTML,
    ),
    Case("html that opens with a script", Sniff(b'<script src="/a.js"></script>x'), HTML),
    Case("a word that starts like a tag is no html", Sniff(b"<scripture> a verse\n"), PLAIN),
    Case(
        # many GitHub READMEs open with a centred logo: read as HTML, "# Install" was text
        "a markdown file that opens with an html block",
        Sniff(b'<p align="center"><img src="logo.png"></p>\n\n# Install\n', "README.md"),
        MARKDOWN,
    ),
    Case(
        "an html page named .md is html",
        Sniff(b"<!DOCTYPE html>\n<html><body><p>x</p></body></html>", "page.md"),
        HTML,
    ),
    Case(
        "a text that shows a tag on a line is no html",
        Sniff(b"Notes on pages.\n<html> is the root element.\n"),
        PLAIN,
    ),
    Case(
        "notebook as nbformat writes it",
        Sniff(b'{\n "cells": [\n  {\n   "cell_type": "code",'),
        NOTEBOOK,
    ),
    Case(
        "notebook of nbformat 3",
        Sniff(b'{"metadata": {}, "nbformat": 3, "worksheets": []}'),
        NOTEBOOK,
    ),
    Case("cells that are no list are json", Sniff(b'{"cells": "not a notebook key"}'), PLAIN),
    Case("nbformat alone is json", Sniff(b'{"name": "levels", "nbformat": 4}'), PLAIN),
    Case(
        "epub by its mimetype entry",
        Sniff(zip_bytes({"mimetype": b"application/epub+zip", "a.opf": b"<x/>"})),
        EPUB,
    ),
    Case(
        "epub without its mimetype entry, by its container (readers open it; was 415)",
        Sniff(
            zip_bytes(
                {
                    "META-INF/container.xml": b'<container><rootfiles><rootfile full-path="a.opf"'
                    b' media-type="application/oebps-package+xml"/></rootfiles></container>',
                    "a.opf": b"<package/>",
                }
            )
        ),
        EPUB,
    ),
    Case(
        "a container naming no package is no epub",
        Sniff(zip_bytes({"META-INF/container.xml": b"<container/>", "a.txt": b"x"})),
        None,
    ),
    Case(
        "e-mail headers make an e-mail, before its HTML body",
        Sniff(b"From: a@x.org\nTo: b@x.org\nSubject: Hi\nContent-Type: text/html\n\n<p>Hi</p>\n"),
        EMAIL,
    ),
    Case(
        "japanese e-mail in iso-2022-jp (was 415: ESC read as binary)",
        Sniff(
            b"From: taro@example.jp\nTo: b@x.org\nSubject: Hi\n"
            b"Content-Type: text/plain; charset=ISO-2022-JP\n\n"
            + "\u672c\u6587\u3067\u3059\u3002\n".encode("iso2022_jp")
            * 3
        ),
        EMAIL,
    ),
    Case(
        "a log coloured for a terminal is text (was 415: its escapes read as binary)",
        Sniff(b"\x1b[1m\x1b[32mPASS\x1b[0m tests/a.py\n\x1b[31mFAIL\x1b[0m b.py\n" * 20),
        PLAIN,
    ),
    Case(
        "iso-2022-jp text",
        Sniff("\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002".encode("iso2022_jp")),
        PLAIN,
    ),
    Case("link without list is plain", Sniff(b"see [docs](http://x.y/z) now\n"), PLAIN),
    Case("link target with a space is no link", Sniff(b"- a\n[x](a b)\n"), PLAIN),
    Case("comment then doctype", Sniff(b" <!-- a --><!--b-->\n<!DOCTYPE html><p>x"), HTML),
    Case("unclosed comment is not html", Sniff(b"<!-- never closed <html>"), PLAIN),
    Case("p tag with attribute", Sniff(b"text <p class='x'>para</p>"), HTML),
    Case("word starting like a tag is not html", Sniff(b"a <pre-release> note"), PLAIN),
    Case("zip that is not docx", Sniff(_zip({"readme.txt": b"hello"}), "a.docx"), None),
    Case("broken zip", Sniff(b"PK\x03\x04 not really a zip at all"), None),
    Case("png", Sniff(PNG, "picture.txt"), None),
    Case("random bytes", Sniff(RANDOM), None),
    Case("empty", Sniff(b""), None),
    Case("only whitespace", Sniff(b"  \n\t\n"), None),
    Case("doctype html", Sniff(b"<!DOCTYPE html><html><body>hi</body></html>"), HTML),
    Case("html tag after comment", Sniff(b"<!-- c -->\n<html lang='en'>x</html>"), HTML),
    Case("fragment with body tag", Sniff(b"Hello\n<body><p>text</p></body>"), HTML),
    Case("html wins over .md filename", Sniff(b"<html><p>x</p></html>", "page.md"), HTML),
    Case("markdown by filename", Sniff(b"just some words", "Notes.MD"), MARKDOWN),
    Case("markdown by .markdown", Sniff(b"just some words", "n.markdown"), MARKDOWN),
    Case("markdown by heading", Sniff(b"intro\n\n# Heading\n\nbody text\n"), MARKDOWN),
    Case("markdown by fence", Sniff(b"Run this:\n```\nls\n```\n"), MARKDOWN),
    Case("plain text", Sniff(b"Hello, world.\nSecond line.\n", "hello.txt"), PLAIN),
    Case("hash without space is plain", Sniff(b"#hashtag and more words\n"), PLAIN),
    Case(
        "a python file's comments are no headings", Sniff(b"# Gauges\nx = 1\n", "gauge.py"), PLAIN
    ),
    Case("the same lines unnamed are markdown", Sniff(b"# Gauges\nx = 1\n"), MARKDOWN),
    Case("utf-8 with bom", Sniff("\ufeffcaf\u00e9 au lait".encode()), PLAIN),
    Case("utf-16 le with bom", Sniff("Gr\u00fc\u00dfe aus Z\u00fcrich".encode("utf-16")), PLAIN),
    Case("utf-16 be with bom", Sniff(b"\xfe\xff" + "Hello there".encode("utf-16-be")), PLAIN),
    Case("utf-16 le without bom", Sniff("Hello there, friend".encode("utf-16-le")), PLAIN),
    Case("utf-16 be without bom", Sniff("Hello there, friend".encode("utf-16-be")), PLAIN),
    Case(
        "windows-1252 curly quotes (was 415)",
        Sniff("\u201cQuoted\u201d \u2013 the caf\u00e9\u2019s menu".encode("cp1252")),
        PLAIN,
    ),
    Case("latin-1", Sniff("na\u00efve fa\u00e7ade".encode("latin-1")), PLAIN),
    Case(
        "shift-jis",
        Sniff("\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002".encode("shift_jis")),
        PLAIN,
    ),
    Case(
        "windows-1252 markdown",
        Sniff("# Men\u00fc\n\n\u201cSuppe\u201d\n".encode("cp1252")),
        MARKDOWN,
    ),
    Case(
        "long shift-jis cut inside a character",
        Sniff(
            ("\u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3002" * 5000).encode("shift_jis")
        ),
        PLAIN,
    ),
    Case("nul bytes in utf-8", Sniff(b"ab\x00cd\x00" * 100), None),
    Case("many control chars", Sniff(b"ab\x01\x02\x03\x04cd" * 20), None),
    Case("long text cut inside a character", Sniff(("\u00e9" * 40_000).encode()), PLAIN),
    Case("example txt", Sniff(_example("kafka-basics.txt"), "kafka-basics.txt"), PLAIN),
    Case("example md", Sniff(_example("sourdough.md"), "sourdough.md"), MARKDOWN),
    Case("example md without name", Sniff(_example("sourdough.md")), MARKDOWN),
    Case("example html", Sniff(_example("lighthouses.html"), "lighthouses.html"), HTML),
    Case("example pdf", Sniff(_example("photosynthesis.pdf")), PDF),
    Case("example docx", Sniff(_example("tea.docx"), "tea.docx"), DOCX),
    Case("excel 97 workbook", Sniff((CORPUS_DIR / "tika/testEXCEL.xls").read_bytes()), XLS),
    Case("outlook message", Sniff((CORPUS_DIR / "tika/testMSG.msg").read_bytes()), MSG),
    Case("word 97 document", Sniff((CORPUS_DIR / "tika/testWORD.doc").read_bytes()), DOC),
    Case("powerpoint 97 deck", Sniff((CORPUS_DIR / "tika/testPPT.ppt").read_bytes()), PPT),
    Case("corrupt pdf is still pdf by magic", Sniff(_example("bad/corrupt.pdf")), PDF),
    Case("pdf after a utf-8 bom", Sniff(b"\xef\xbb\xbf" + _example("photosynthesis.pdf")), PDF),
    Case("pdf after blank lines", Sniff(b"\r\n\n" + _example("photosynthesis.pdf")), PDF),
    Case("text that mentions %PDF- later", Sniff(b"see the %PDF-1.7 header\n"), PLAIN),
    # Ghostscript with its banner on writes it before the header (pdfplumber's issue-848.pdf)
    Case("pdf after a tool's banner", Sniff(GS_BANNER + _example("photosynthesis.pdf")), PDF),
    Case(
        "text quoting a header, not ending as a pdf",
        Sniff(GS_BANNER + b"%PDF-1.7 starts the file; the rest is binary.\n" * 3),
        PLAIN,
    ),
    Case("example random.bin", Sniff(_example("bad/random.bin"), "random.txt"), None),
    Case(
        "tika's signed xml (.p7m)",
        Sniff((CORPUS_DIR / "tika/test.xml.p7m").read_bytes(), "test.xml.p7m"),
        SIGNED,
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", SNIFF_CASES, ids=[c.description for c in SNIFF_CASES])
def test_sniff_media_type(case: Case[Sniff, str | None]) -> None:
    assert sniff_media_type(case.given.data, case.given.filename) == case.expected


@pytest.mark.unit
def test_every_sniffed_type_is_allowed() -> None:
    sniffed = {c.expected for c in SNIFF_CASES if c.expected is not None}
    assert sniffed == set(ALLOWED_MEDIA_TYPES)


FILENAME_CASES: list[Case[str | None, str]] = [
    Case("plain name kept", "report.pdf", "report.pdf"),
    Case("none falls back", None, "upload"),
    Case("empty falls back", "", "upload"),
    Case("posix directories stripped", "/etc/passwd", "passwd"),
    Case("traversal stripped", "../../secret/notes.md", "notes.md"),
    Case("windows directories stripped", "C:\\Users\\me\\cv.docx", "cv.docx"),
    Case("dot-dot only falls back", "..", "upload"),
    Case("control chars removed", "re\x00po\nrt\t.txt", "report.txt"),
    Case("leading dots removed", ".hidden.txt", "hidden.txt"),
    Case("surrounding spaces removed", "  my file.txt  ", "my file.txt"),
    Case("unicode kept", "caf\u00e9 men\u00fc.md", "caf\u00e9 men\u00fc.md"),
    Case("long name keeps extension", "a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    Case("long name without extension cut", "b" * 300, "b" * 255),
    Case("trailing slash falls back", "dir/", "dir"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", FILENAME_CASES, ids=[c.description for c in FILENAME_CASES])
def test_sanitize_filename(case: Case[str | None, str]) -> None:
    result = sanitize_filename(case.given)
    assert result == case.expected
    assert len(result) <= 255
    assert "/" not in result
    assert "\\" not in result


MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # IngestSettings.max_upload_bytes default
HOSTILE_PATTERNS: list[Case[str, None]] = [
    Case("link openers (froze ingest 9 s at 64 KiB)", "[", None),
    Case("link halves", "[a](", None),
    Case("list digits", "1", None),
    Case("unclosed comments", "<!--", None),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", HOSTILE_PATTERNS, ids=[c.description for c in HOSTILE_PATTERNS])
def test_sniffing_a_hostile_upload_of_the_maximum_size_grows_linearly(
    case: Case[str, None],
) -> None:
    """16 KiB to 50 MiB: linear up to the 64 KiB sniffing window (4x), flat after it."""
    small = (case.given * (16 * 1024 // len(case.given))).encode()
    largest = (case.given * (MAX_UPLOAD_BYTES // len(case.given))).encode()
    assert len(largest) > MAX_UPLOAD_BYTES - 4
    assert growth(sniff_media_type, small, largest) < LINEAR_GROWTH_BOUND
    assert sniff_media_type(largest) in (PLAIN, MARKDOWN, HTML)


@pytest.mark.unit
def test_markdown_signals_scan_grows_linearly_past_the_window() -> None:
    """The line checks themselves, on text far longer than the window."""
    lines = "- item [x](y z) [[[[ 12345 ]( (\n"
    small = lines * 20_000
    large = lines * 80_000
    assert growth(lambda text: media._looks_like_markdown(text, None), small, large) < (
        LINEAR_GROWTH_BOUND
    )
