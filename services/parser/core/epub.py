"""EPUB (e-books: EPUB 2 and 3) to text: each document of the reading order as HTML.

An EPUB is a ZIP of XHTML documents; `META-INF/container.xml` names the package document
(OPF), whose manifest lists the documents and whose spine gives their reading order. Read
here with zipfile and lxml (no library reads EPUB without pulling in a GUI or an AGPL
licence), each spine document through the HTML extractor's walk, so its headings count.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from typing import Any
from urllib.parse import unquote

from lxml import etree

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ParseError
from services.parser.core.html import feed_html
from services.parser.core.office import open_package
from services.parser.core.parsed import ParsedText
from services.parser.core.text import decode_text, title_of

MAX_SPINE = 10_000  # documents read at most (a long book has a few hundred)
_CONTAINER = "META-INF/container.xml"
_ENCRYPTION = "META-INF/encryption.xml"
_ROOTFILE = "{urn:oasis:names:tc:opendocument:xmlns:container}rootfile"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_CIPHER_REFERENCE = "{http://www.w3.org/2001/04/xmlenc#}CipherReference"
_XML = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
# Content documents: XHTML (and HTML), DTBook, OEB 1.x's documents (EPUB 2 allows them) and
# SVG (EPUB 3 allows a page drawn as one picture; its <text> is read as in XHTML)
_READABLE = frozenset(
    {
        "application/xhtml+xml", "text/html", "application/x-dtbook+xml",
        "text/x-oeb1-document", "image/svg+xml",
    }
)  # fmt: skip


def extract_epub(data: bytes) -> ParsedText:
    """The book's documents in reading order, their headings kept; the title from the
    package document."""
    builder = TextBuilder()
    fix = "save it again from your e-book program"
    with (
        open_package(data, "EPUB", fix) as package,
        zipfile.ZipFile(io.BytesIO(package)) as archive,
    ):
        opf_name = _package_document(archive)
        opf = _xml(archive.read(opf_name))
        documents = _reading_order(opf, posixpath.dirname(opf_name))
        locked = _encrypted(archive)
        if locked & set(documents):
            raise ParseError(
                CORRUPT_FILE,
                "the e-book is DRM-protected (its text is encrypted); export it without"
                " DRM and upload again",
            )
        for name in documents[:MAX_SPINE]:
            if builder.full:
                break
            try:
                feed_html(decode_text(archive.read(name)), builder)
            except (KeyError, ParseError):  # a chapter missing, binary or nested past reading:
                continue  # the others count
        title = _title(opf)
    return builder.build(title=title)


def _package_document(archive: zipfile.ZipFile) -> str:
    """The package document's name, from META-INF/container.xml (or the only .opf)."""
    try:
        container = _xml(archive.read(_CONTAINER))
        rootfile = container.find(f".//{_ROOTFILE}")
        if rootfile is not None and rootfile.get("full-path"):
            return unquote(str(rootfile.get("full-path")))
    except KeyError:
        pass
    found = [name for name in archive.namelist() if name.lower().endswith(".opf")]
    if len(found) != 1:
        raise ParseError(
            CORRUPT_FILE,
            "the EPUB has no package document (META-INF/container.xml and its .opf);"
            " save it again from your e-book program and upload again",
        )
    return found[0]


def _reading_order(opf: Any, folder: str) -> list[str]:
    """The archive names of the spine's documents, in reading order (a `linear="no"` one,
    such as a pop-up note, after the others), readable ones only; without a spine that
    names any, the manifest's documents in its order (the navigation document aside).
    Written loosely as epubcheck's tests have them, and readers open: ids with spaces
    around, an href from the archive's root (`/EPUB/a.xhtml`) or climbing above it."""
    items = {
        (item.get("id") or "").strip(): item
        for item in opf.iter("{*}item")
        if (item.get("media-type") or "") in _READABLE and item.get("href")
    }
    linear: list[str] = []
    aside: list[str] = []
    for itemref in opf.iter("{*}itemref"):
        item = items.get((itemref.get("idref") or "").strip())
        if item is not None:
            (aside if itemref.get("linear") == "no" else linear).append(_name(item, folder))
    if not linear and not aside:
        linear = [
            _name(item, folder)
            for item in items.values()
            if "nav" not in (item.get("properties") or "").split()
        ]
    return list(dict.fromkeys(linear + aside))


def _name(item: Any, folder: str) -> str:
    """The archive name a manifest item's href points at (relative to the package
    document's folder, or to the root when it starts with `/`; never above the root)."""
    href = unquote(str(item.get("href")))
    name = posixpath.normpath(
        href.lstrip("/") if href.startswith("/") else posixpath.join(folder, href)
    )
    while name.startswith("../"):
        name = name[3:]
    return name


def _encrypted(archive: zipfile.ZipFile) -> set[str]:
    """The parts META-INF/encryption.xml says are encrypted (fonts, for most books: only
    their obfuscation; the text too, under DRM)."""
    try:
        encryption = _xml(archive.read(_ENCRYPTION))
    except KeyError:
        return set()
    return {
        unquote(str(reference.get("URI", ""))) for reference in encryption.iter(_CIPHER_REFERENCE)
    }


def _title(opf: Any) -> str | None:
    """The book's title (the first dc:title), if it has one."""
    found = opf.find(f".//{_DC_TITLE}")
    return title_of(found.text) if found is not None else None


def _xml(data: bytes) -> Any:
    """A package XML part as a tree; one that is not XML ends the book corrupt_file."""
    try:
        root = etree.fromstring(data, _XML)
    except etree.XMLSyntaxError as exc:
        raise ParseError(
            CORRUPT_FILE,
            f"the EPUB's package files are not readable XML ({exc}); save it again from"
            " your e-book program and upload again",
        ) from exc
    if root is None:
        raise ParseError(CORRUPT_FILE, "the EPUB's package files are empty")
    return root
