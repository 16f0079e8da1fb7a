"""EPUB to text (services/parser/core/epub.py): the spine's reading order, headings kept, DRM
refused. The books are assembled here from their parts; real ones are in the corpus."""

from __future__ import annotations

import io
import zipfile

import pytest

from services.common.media import EPUB, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract

pytestmark = pytest.mark.unit

CONTAINER = (
    '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:'
    'xmlns:container"><rootfiles><rootfile full-path="OEBPS/book.opf" media-type="application/'
    'oebps-package+xml"/></rootfiles></container>'
)


def chapter(heading: str, words: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
        f"<head><title>{heading}</title></head><body><h1>{heading}</h1><p>{words}</p></body>"
        "</html>"
    ).encode()


def book(
    *, container: bool = True, encrypted: tuple[str, ...] = (), broken_chapter: bool = False
) -> bytes:
    """A two-chapter book whose manifest lists the chapters in the other order than its
    spine, with a cover page out of the reading order (linear="no") and a stylesheet."""
    opf = (
        '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>The Weir</dc:title>'
        '</metadata><manifest><item id="two" href="text/two%20b.xhtml" media-type="application/'
        'xhtml+xml"/><item id="one" href="text/one.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="cover" href="cover.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="css" href="style.css" media-type="text/css"/></manifest><spine>'
        '<itemref idref="cover" linear="no"/><itemref idref="one"/><itemref idref="two"/>'
        '<itemref idref="css"/><itemref idref="missing"/></spine></package>'
    )
    parts = {
        "OEBPS/book.opf": opf.encode(),
        "OEBPS/text/one.xhtml": chapter("Spring", "The river rose."),
        "OEBPS/text/two b.xhtml": chapter("Summer", "The river fell."),
        "OEBPS/cover.xhtml": chapter("Cover", "A painting of the weir."),
        "OEBPS/style.css": b"h1 { color: blue }",
    }
    if broken_chapter:
        parts["OEBPS/text/one.xhtml"] = bytes(range(256)) * 16  # not text: left out
    if container:
        parts["META-INF/container.xml"] = CONTAINER.encode()
    if encrypted:
        references = "".join(
            '<EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#"><CipherData>'
            f'<CipherReference URI="{name}"/></CipherData></EncryptedData>'
            for name in encrypted
        )
        parts["META-INF/encryption.xml"] = (
            '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            f"{references}</encryption>"
        ).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", zipfile.ZIP_STORED)
        for name, data in parts.items():
            archive.writestr(name, data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_chapters_read_in_spine_order_with_their_headings_the_cover_last() -> None:
    data = book()
    assert sniff_media_type(data) == EPUB
    parsed = extract(data, EPUB)
    assert parsed.text == (
        "Spring\n\nThe river rose.\n\nSummer\n\nThe river fell.\n\nCover\n\nA painting of the weir."
    )
    assert parsed.title == "The Weir"
    assert [h.title for h in parsed.headings] == ["Spring", "Summer", "Cover"]


def test_a_book_without_its_container_is_read_from_its_only_package_document() -> None:
    data = book(container=False)
    assert sniff_media_type(data) == EPUB
    assert extract(data, EPUB).text.startswith("Spring")


def test_obfuscated_fonts_are_no_drm_but_encrypted_chapters_are() -> None:
    assert extract(book(encrypted=("OEBPS/fonts/a.otf",)), EPUB).text.startswith("Spring")
    with pytest.raises(ParseError) as raised:
        extract(book(encrypted=("OEBPS/text/one.xhtml",)), EPUB)
    assert raised.value.code == "corrupt_file"
    assert "DRM" in raised.value.message


def test_a_chapter_that_is_not_text_costs_only_itself() -> None:
    text = extract(book(broken_chapter=True), EPUB).text
    assert text.startswith("Summer\n\nThe river fell.")


def package(
    manifest: str,
    spine: str,
    namespace: str = "http://www.idpf.org/2007/opf",
    parts: dict[str, bytes] | None = None,
) -> bytes:
    """A book of one chapter (its name: OEBPS/text/one.xhtml) under the given package, and
    the other `parts` named."""
    opf = (
        f'<?xml version="1.0"?><package xmlns="{namespace}" version="3.0">'
        f"<metadata/><manifest>{manifest}</manifest>{spine}</package>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", CONTAINER)
        archive.writestr("OEBPS/book.opf", opf)
        archive.writestr("OEBPS/text/one.xhtml", chapter("Spring", "The river rose."))
        archive.writestr("OEBPS/nav.xhtml", chapter("Contents", "Spring"))
        for name, data in (parts or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


XHTML = 'media-type="application/xhtml+xml"'
NAV = f'<item id="nav" href="nav.xhtml" {XHTML} properties="nav"/>'
SPINE = '<spine><itemref idref="one"/></spine>'


@pytest.mark.parametrize(
    ("manifest", "spine"),
    [
        # epubcheck's tests, each a book readers open; each read as no text before
        (f'<item id=" one " href="text/one.xhtml" {XHTML}/>', SPINE),
        (f'<item id="one" href="/OEBPS/text/one.xhtml" {XHTML}/>', SPINE),
        (f'<item id="one" href="../../OEBPS/text/one.xhtml" {XHTML}/>', SPINE),
        (f'{NAV}<item id="one" href="text/one.xhtml" {XHTML}/>', ""),
        ('<item id="one" href="text/one.xhtml" media-type="text/x-oeb1-document"/>', SPINE),
    ],
    ids=["ids with spaces", "absolute href", "href above the root", "no spine", "oeb 1.2 document"],
)
def test_a_loosely_written_package_still_gives_its_chapters(manifest: str, spine: str) -> None:
    assert extract(package(manifest, spine), EPUB).text == "Spring\n\nThe river rose."


def test_an_open_ebook_1_package_is_read_too() -> None:
    # OEBPS 1.2's namespace (epubcheck's opf-legacy-oebps12 books)
    manifest = '<item id="one" href="text/one.xhtml" media-type="text/x-oeb1-document"/>'
    oeb = "http://openebook.org/namespaces/oeb-package/1.0/"
    assert extract(package(manifest, SPINE, oeb), EPUB).text == "Spring\n\nThe river rose."


def test_pages_drawn_in_svg_are_read_from_their_text() -> None:
    # IDPF's fixed-layout "Sous le vent" sets each page's words in SVG text, a tspan a line,
    # words split within a line to kern them ("av" "ec"); its twin has SVG pages in the
    # spine. Both books were read as no text at all.
    page = (
        '<html xmlns="http://www.w3.org/1999/xhtml"><body><svg xmlns="http://www.w3.org/2000/'
        'svg"><title>Page 1</title><style>.a { fill: red }</style><text class="a">'
        '<tspan x="0" y="0">Il en avait souvent r\u00eav\u00e9, depuis la</tspan>'
        '<tspan x="0" y="15">communale. L\u2019autre av</tspan><tspan x="90" y="15">ec lui.'
        "</tspan></text></svg></body></html>"
    )
    drawn = '<svg xmlns="http://www.w3.org/2000/svg"><text x="1" y="2">Le vent, chaud</text></svg>'
    manifest = (
        f'<item id="p1" href="p1.xhtml" {XHTML}/>'
        '<item id="p2" href="p2.svg" media-type="image/svg+xml"/>'
    )
    spine = '<spine><itemref idref="p1"/><itemref idref="p2"/></spine>'
    parts = {"OEBPS/p1.xhtml": page.encode(), "OEBPS/p2.svg": drawn.encode()}
    assert extract(package(manifest, spine, parts=parts), EPUB).text == (
        "Il en avait souvent r\u00eav\u00e9, depuis la communale. L\u2019autre avec lui."
        "\n\nLe vent, chaud"
    )
