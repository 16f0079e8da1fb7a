"""PDF page text comes from PDFium; pypdf reads the outline and title, and the pages PDFium
cannot give: a file it cannot open, a page it cannot load or finds no text on."""

from __future__ import annotations

import pypdfium2
import pypdfium2.raw as pdfium_raw
import pytest
from pypdf.errors import PdfReadError

from services.parser.core import pdf
from services.parser.core.errors import ParseError
from tests.fixtures.corpus import corpus_file
from tests.fixtures.documents import pdf_with_outline

pytestmark = pytest.mark.unit

FIRST_PAGE = "Photosynthesis"  # what the example's first page starts with


def refuse_to_open(code: int) -> object:
    """A stand-in for pypdfium2.PdfDocument that fails to open as PDFium does, with `code`."""

    def open_document(*args: object, **kwargs: object) -> object:
        raise pypdfium2.PdfiumError("Failed to load document", err_code=code)

    return open_document


def test_page_text_headings_and_title_come_out_of_the_two_libraries() -> None:
    parsed = pdf.extract_pdf(pdf_with_outline())
    assert parsed.page_count == 3
    assert parsed.text.startswith(FIRST_PAGE)
    assert parsed.title == "Photosynthesis, outlined"
    assert [heading.title for heading in parsed.headings] == [
        "Photosynthesis in Plants",
        "Light-dependent stage",
        "An empty page",
        "The Calvin Cycle",
    ]


def test_a_file_pdfium_cannot_open_is_read_by_pypdf(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = pdf.extract_pdf(pdf_with_outline())
    monkeypatch.setattr(pypdfium2, "PdfDocument", refuse_to_open(pdfium_raw.FPDF_ERR_FORMAT))
    parsed = pdf.extract_pdf(pdf_with_outline())
    assert parsed.text.startswith(FIRST_PAGE)
    assert parsed.page_count == expected.page_count
    assert len(parsed.headings) == len(expected.headings)


@pytest.mark.parametrize(
    ("pdfium_error", "code"),
    [(pdfium_raw.FPDF_ERR_FORMAT, "corrupt_file"), (pdfium_raw.FPDF_ERR_PASSWORD, "encrypted_pdf")],
    ids=["broken", "password"],
)
def test_a_file_neither_library_opens_ends_with_what_pdfium_says(
    monkeypatch: pytest.MonkeyPatch, pdfium_error: int, code: str
) -> None:
    monkeypatch.setattr(pypdfium2, "PdfDocument", refuse_to_open(pdfium_error))
    with pytest.raises(ParseError) as raised:
        pdf.extract_pdf(b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n")
    assert raised.value.code == code
    if code == "corrupt_file":  # pypdf's reason, the more telling
        assert "the PDF could not be read" in raised.value.message


@pytest.mark.parametrize("pdfium_says", ["", " \r\n ", None], ids=["empty", "blank", "no page"])
def test_a_page_pdfium_finds_no_text_on_is_read_by_pypdf(
    monkeypatch: pytest.MonkeyPatch, pdfium_says: str | None
) -> None:
    monkeypatch.setattr(pdf, "_pdfium_text", lambda document, index: pdfium_says)
    parsed = pdf.extract_pdf(pdf_with_outline())
    assert parsed.text.startswith(FIRST_PAGE)


def test_glyph_codes_become_spaces_and_joined_hyphens_go(monkeypatch: pytest.MonkeyPatch) -> None:
    # What PDFium gives for a font that maps its space glyph to no character (code 2), and
    # for "com-" at a line's end joined with "pile" on the next.
    monkeypatch.setattr(
        pdf, "_pdfium_text", lambda document, index: "System\x02Features\x03\x04and com\ufffepile"
    )
    parsed = pdf.extract_pdf(pdf_with_outline())
    assert parsed.text.startswith("System Features and compile")


def test_a_file_only_pdfium_opens_and_finds_no_text_in_ends_corrupt() -> None:
    # pdf.js's issue15590.pdf: no cross-reference table, and a catalog whose /Pages is a
    # JavaScript action. PDFium rebuilds it into one empty page; "no text layer, it may be a
    # scan" would send the user to OCR.
    data = corpus_file("pdfjs/issue15590.pdf").read()
    with pytest.raises(ParseError) as raised:
        pdf.extract_pdf(data)
    assert raised.value.code == "corrupt_file"


def test_a_library_pypdf_lacks_is_a_feature_we_cannot_read_not_an_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pdf.js's Brotli-Prototype-FileA.pdf: pypdf asked the user to `pip install pypdf[brotli]`
    def lacking(*args: object, **kwargs: object) -> object:
        missing = pdf.DependencyError(
            "brotli is required for BrotliDecode. Install it with: pip install pypdf[brotli]"
        )
        raise PdfReadError(f"Trailer cannot be read: {missing}") from missing  # as pypdf does

    monkeypatch.setattr(pdf, "PdfReader", lacking)
    monkeypatch.setattr(pypdfium2, "PdfDocument", refuse_to_open(pdfium_raw.FPDF_ERR_FORMAT))
    with pytest.raises(ParseError) as raised:
        pdf.extract_pdf(b"%PDF-2.0\n1 0 obj <<>> endobj\n%%EOF\n")
    assert raised.value.code == "corrupt_file"
    assert "a feature we cannot read (brotli is required for BrotliDecode)" in raised.value.message
    assert "pip" not in raised.value.message


def test_a_pdf_behind_a_tools_banner_reads_as_the_pdf() -> None:
    # Ghostscript with its banner on writes it before the header (pdfplumber's issue-848.pdf);
    # the upload check takes such a file for a PDF (test_media), and both libraries read it.
    banner = b"GPL Ghostscript 10.02.0 (2023-09-13)\nCopyright (C) 2023 Artifex Software, Inc.\n"
    parsed = pdf.extract_pdf(banner + pdf_with_outline())
    assert parsed.page_count == 3
    assert parsed.text.startswith(FIRST_PAGE)
    assert parsed.title == "Photosynthesis, outlined"
