"""Unit tests for upload validation and identity (services/ingest/core/uploads.py)."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest

from schemas.events import document_id_for
from services.common.archive import MAX_ENTRIES
from services.common.media import DOCX, MARKDOWN, PDF, PLAIN, PPTX, XLSB, XLSX
from services.ingest.core.uploads import (
    MAX_IDEMPOTENCY_KEY,
    MAX_METADATA_BYTES,
    AcceptedUpload,
    UploadRejectedError,
    check_idempotency_key,
    validate_upload,
)
from tests.fixtures.cases import Case, case_ids
from tests.fixtures.corpus import CORPUS_DIR
from tests.fixtures.documents import (
    docx_with_headings,
    main_part_moved,
    many_entries_bomb,
    opendocument,
    overlapping_bomb,
    pptx_deck,
    ratio_bomb,
    with_entry_header,
    xlsx_workbook,
    zip_bytes,
)

LIMIT = 1024
BIG = 64 * 1024 * 1024
TEXT = b"Sluice turns documents into searchable chunks.\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
WHITE_TIFF = b"II*\x00(0\x16\x00" + b"\xff" * 900
WAV = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00" + bytes(64)
ODC = zip_bytes(  # an OpenDocument chart (drawings are read since; charts are not)
    {"mimetype": b"application/vnd.oasis.opendocument.chart", "content.xml": b"<x/>"},
    zipfile.ZIP_STORED,
)

IWORK = zip_bytes(  # Pages since 2013 (docling's pages_2013.pages has these parts)
    {"Index/Document.iwa": bytes(64), "Index/ViewState.iwa": bytes(16)}, zipfile.ZIP_STORED
)

IWORK_09 = zip_bytes(  # Pages '09: XML parts (docling's pages_iwork09.pages)
    {"buildVersionHistory.plist": b"<plist/>", "index.xml": b"<sl:document/>"},
    zipfile.ZIP_STORED,
)
ODT = opendocument("text")
MOVED = main_part_moved(docx_with_headings(), "word/document.xml", "word/document2.xml")
XLSB_PACKAGE = zip_bytes(  # an Excel binary workbook: OOXML packaging, binary parts
    {
        "[Content_Types].xml": b'<Types><Override PartName="/xl/workbook.bin" ContentType='
        b'"application/vnd.ms-excel.sheet.binary.macroEnabled.main"/></Types>',
        "xl/workbook.bin": b"\x83\x01\x00",
    }
)


@dataclass(frozen=True)
class Upload:
    """Arguments to validate_upload."""

    data: bytes = TEXT
    filename: str | None = "notes.txt"
    metadata: str | bytes | None = None
    tenant: str = "acme"
    max_bytes: int = LIMIT

    def validate(self) -> AcceptedUpload:
        """Run validate_upload with these arguments."""
        return validate_upload(
            tenant_id=self.tenant,
            data=self.data,
            sha256=hashlib.sha256(self.data).hexdigest(),
            filename=self.filename,
            metadata_json=self.metadata,
            max_bytes=self.max_bytes,
        )


REJECTED: list[Case[Upload, tuple[int, str]]] = [
    Case("empty file", Upload(data=b""), (400, "empty")),
    Case("one byte over the limit", Upload(data=b"a" * (LIMIT + 1)), (413, "exceeds the limit")),
    Case("binary bytes", Upload(data=bytes(range(256)) * 2), (415, "not a supported")),
    Case(
        "PNG named .txt", Upload(data=PNG, filename="a.txt"), (415, "image/png (.png): a picture")
    ),
    # A TIFF of white pixels (0xFF bytes) decodes as Windows-1252 "ÿÿÿ..." and was taken for
    # text: accepted, then failed at parse as decode_error (Unstructured's example-docs).
    Case("white TIFF", Upload(data=WHITE_TIFF, filename="scan.tif"), (415, "image/tiff")),
    Case("WAV", Upload(data=WAV, filename="a.wav"), (415, "audio, with no text to read")),
    Case(
        "OpenDocument chart",
        Upload(data=ODC, filename="a.odc", max_bytes=BIG),
        (415, "a ZIP archive that is no document Sluice reads"),
    ),
    Case(
        "Apple Pages document",
        Upload(data=IWORK, filename="plan.pages", max_bytes=BIG),
        (415, "an Apple iWork document (Pages, Numbers or Keynote)"),
    ),
    # Pages '09 with a password (docling's pages_password_protected.pages) names methods no
    # ZIP tool knows: it was refused as a ZIP "packed with a compression method ...".
    Case(
        "password-protected Pages '09 document",
        Upload(
            data=with_entry_header(IWORK_09, "buildVersionHistory.plist", method=25451),
            filename="plan.pages",
            max_bytes=BIG,
        ),
        (415, "an Apple iWork document (Pages, Numbers or Keynote)"),
    ),
    # Python's zipfile raises NotImplementedError on these: it escaped the upload check (500)
    Case(
        "OpenDocument whose mimetype entry is AES-encrypted",
        Upload(data=with_entry_header(ODT, "mimetype", method=99), max_bytes=BIG),
        (415, "packed with a compression method Sluice cannot unpack"),
    ),
    Case(
        "DOCX-like package whose content types are Deflate64",
        Upload(data=with_entry_header(MOVED, "[Content_Types].xml", method=9), max_bytes=BIG),
        (415, "packed with a compression method Sluice cannot unpack"),
    ),
    Case(
        "DOCX whose directory says it needs ZIP version 12",
        Upload(
            data=with_entry_header(docx_with_headings(), "word/document.xml", version=120),
            max_bytes=BIG,
        ),
        (415, "cannot be read (zip file version 12.0)"),
    ),
    Case("only newlines", Upload(data=b"\n\n\n"), (400, "only whitespace")),
    Case("only UTF-16 spaces", Upload(data="  \t\n".encode("utf-16")), (400, "only whitespace")),
    # What a person can act on, not only "not supported":
    Case("zip cut short", Upload(data=b"PK\x03\x04garbage"), (415, "may be cut short")),
    Case(
        "DOCX cut short",
        Upload(data=docx_with_headings()[:2000], max_bytes=BIG),
        (415, "ZIP archive (as DOCX, PPTX and XLSX are) that cannot be read"),
    ),
    Case(
        "zip that is not DOCX, PPTX, XLSX or XLSB",
        Upload(data=zip_bytes({"readme.txt": b"hello"}, zipfile.ZIP_STORED)),
        (415, "not a DOCX, PPTX, XLSX or XLSB (it has none of word/document.xml"),
    ),
    Case(
        "an OLE2 file with no office stream",
        Upload(data=bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504), filename="report.doc"),
        (415, "an OLE2 compound file that is no Office document Sluice reads"),
    ),
    Case(
        "a password-protected OOXML file, named",
        Upload(data=(CORPUS_DIR / "tika/protectedFile.xlsx").read_bytes(), max_bytes=BIG),
        (415, "a password-protected Office document; save it without a password"),
    ),
    Case(
        "DOCX that expands 1,000 times",
        Upload(data=ratio_bomb(), max_bytes=BIG),
        (422, "looks like a decompression bomb"),
    ),
    Case(
        "XLSX with too many parts",
        Upload(data=many_entries_bomb(MAX_ENTRIES + 1, "xl/workbook.xml"), max_bytes=BIG),
        (422, f"more than the {MAX_ENTRIES:,}"),
    ),
    Case(
        "archive whose parts overlap",
        Upload(data=overlapping_bomb(), max_bytes=BIG),
        (422, "overlap"),
    ),
    Case("metadata not JSON", Upload(metadata="{nope"), (400, "not valid JSON")),
    Case("metadata a JSON array", Upload(metadata="[1, 2]"), (400, "must be a JSON object")),
    Case("metadata a JSON string", Upload(metadata=b'"x"'), (400, "must be a JSON object")),
    Case(
        "metadata over 16 KiB",
        Upload(metadata='{"k": "' + "x" * MAX_METADATA_BYTES + '"}'),
        (400, "larger than 16 KiB"),
    ),
    # Postgres' jsonb holds no NUL: these were 500s (a DataError from the INSERT).
    Case("metadata value with a NUL", Upload(metadata='{"a": "x\\u0000y"}'), (400, "NUL")),
    Case("metadata key with a NUL", Upload(metadata='{"a\\u0000": 1}'), (400, "NUL")),
    Case(
        "metadata NUL deep in a list",
        Upload(metadata='{"a": [1, {"b": ["\\u0000"]}]}'),
        (400, "NUL"),
    ),
    # msgspec raised RecursionError: a 500.
    Case(
        "metadata nested 5,000 levels",
        Upload(metadata='{"a": ' + "[" * 5000 + "]" * 5000 + "}"),
        (400, "nested deeper than 32"),
    ),
    Case(
        "metadata nested 33 levels",
        Upload(metadata='{"a": ' + "[" * 32 + "]" * 32 + "}"),
        (400, "nested deeper than 32"),
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", REJECTED, ids=case_ids(REJECTED))
def test_rejected_uploads(case: Case[Upload, tuple[int, str]]) -> None:
    status, reason = case.expected
    with pytest.raises(UploadRejectedError) as raised:
        case.given.validate()
    assert raised.value.status == status
    assert reason in raised.value.detail
    assert raised.value.title


ACCEPTED: list[Case[Upload, dict[str, Any]]] = [
    Case("plain text", Upload(), {"media_type": PLAIN, "filename": "notes.txt", "metadata": {}}),
    Case("exactly at the limit", Upload(data=b"a" * LIMIT), {"size": LIMIT}),
    Case(
        "PDF named .txt is a PDF",
        Upload(data=b"%PDF-1.7\n...", filename="x.txt"),
        {"media_type": PDF},
    ),
    Case("markdown by filename", Upload(filename="README.md"), {"media_type": MARKDOWN}),
    # Two-letter signatures (BMP's "BM", a Windows program's "MZ") a text may start with:
    Case("text starting BM", Upload(data=b"BMW annual report\n"), {"media_type": PLAIN}),
    Case("text starting MZ", Upload(data=b"MZ-1 manual\n"), {"media_type": PLAIN}),
    Case(
        "windows-1252 text with curly quotes (was 415)",
        Upload(data="\u201cHello\u201d \u2013 it\u2019s caf\u00e9 time.\n".encode("cp1252")),
        {"media_type": PLAIN},
    ),
    Case(
        "shift-jis text",
        Upload(data="\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8".encode("shift_jis")),
        {"media_type": PLAIN},
    ),
    Case(
        "utf-16le text without bom",
        Upload(data="Plain words in UTF-16.".encode("utf-16-le")),
        {"media_type": PLAIN},
    ),
    Case("DOCX", Upload(data=docx_with_headings(), max_bytes=BIG), {"media_type": DOCX}),
    Case("PPTX", Upload(data=pptx_deck(), max_bytes=BIG), {"media_type": PPTX}),
    Case("XLSX", Upload(data=xlsx_workbook(), max_bytes=BIG), {"media_type": XLSX}),
    Case(
        "Excel binary workbook (was 415)",
        Upload(data=XLSB_PACKAGE, filename="sales.xlsb", max_bytes=BIG),
        {"media_type": XLSB},
    ),
    Case(
        "metadata object",
        Upload(metadata='{"source": "crm", "n": 1}'),
        {"metadata": {"source": "crm", "n": 1}},
    ),
    Case("metadata as bytes", Upload(metadata=b'{"a": [1]}'), {"metadata": {"a": [1]}}),
    Case("empty metadata part", Upload(metadata=""), {"metadata": {}}),
    Case(
        "metadata nested 32 levels",
        Upload(metadata='{"a": ' + "[" * 31 + "]" * 31 + "}"),
        {"metadata": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}},
    ),
    Case(
        "path stripped from filename",
        Upload(filename="../../etc/passwd.txt"),
        {"filename": "passwd.txt"},
    ),
    Case("no filename", Upload(filename=None), {"filename": "upload"}),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", ACCEPTED, ids=case_ids(ACCEPTED))
def test_accepted_uploads(case: Case[Upload, dict[str, Any]]) -> None:
    accepted = case.given.validate()
    for name, value in case.expected.items():
        assert getattr(accepted, name) == value, name
    assert accepted.size == len(case.given.data)
    assert accepted.sha256 == hashlib.sha256(case.given.data).hexdigest()
    assert accepted.document_id == document_id_for(case.given.tenant, accepted.sha256)


@pytest.mark.unit
def test_document_id_is_per_tenant_and_content() -> None:
    first = Upload(tenant="acme", filename="a.txt").validate()
    again = Upload(tenant="acme", filename="renamed.txt").validate()
    other_tenant = Upload(tenant="globex").validate()
    other_bytes = Upload(tenant="acme", data=TEXT + b"more\n").validate()
    assert first.document_id == again.document_id
    assert first.document_id != other_tenant.document_id
    assert first.document_id != other_bytes.document_id


KEYS: list[Case[str | None, str | None]] = [
    Case("no header", None, None),
    Case("plain key", "order-42", "order-42"),
    Case("surrounding spaces trimmed", "  abc  ", "abc"),
    Case("longest allowed", "k" * MAX_IDEMPOTENCY_KEY, "k" * MAX_IDEMPOTENCY_KEY),
    Case("uuid", "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b", "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", KEYS, ids=case_ids(KEYS))
def test_idempotency_key_accepted(case: Case[str | None, str | None]) -> None:
    assert check_idempotency_key(case.given) == case.expected


BAD_KEYS: list[Case[str, int]] = [
    Case("empty", "", 400),
    Case("only spaces", "   ", 400),
    Case("too long", "k" * (MAX_IDEMPOTENCY_KEY + 1), 400),
    Case("control character", "abc\x00def", 400),
    Case("newline inside", "abc\ndef", 400),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", BAD_KEYS, ids=case_ids(BAD_KEYS))
def test_idempotency_key_rejected(case: Case[str, int]) -> None:
    with pytest.raises(UploadRejectedError) as raised:
        check_idempotency_key(case.given)
    assert raised.value.status == case.expected
    assert "Idempotency-Key" in raised.value.title
