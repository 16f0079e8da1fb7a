"""Unit tests for the ZIP limits that refuse decompression bombs (services/common/archive.py)."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from services.common.archive import (
    MAX_ENTRIES,
    MAX_UNPACKED_BYTES,
    RATIO_GRACE_BYTES,
    ArchiveTooLargeError,
    inspect_archive,
)
from tests.fixtures.documents import (
    MiB,
    docx_with_headings,
    example,
    many_entries_bomb,
    overlapping_bomb,
    pptx_deck,
    ratio_bomb,
    xlsx_workbook,
    zip_bytes,
    zip_stored,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "data",
    [example("tea.docx"), docx_with_headings(), pptx_deck(), xlsx_workbook()],
    ids=["tea.docx", "docx", "pptx", "xlsx"],
)
def test_real_documents_pass(data: bytes) -> None:
    assert inspect_archive(data)


def test_a_part_that_expands_a_thousand_times_is_refused() -> None:
    with pytest.raises(ArchiveTooLargeError) as refused:
        inspect_archive(ratio_bomb(unpacked=100 * MiB))
    assert "'word/document.xml' would expand" in refused.value.message
    assert "decompression bomb" in refused.value.message
    assert refused.value.message.endswith("upload again")


def test_a_blank_drawing_may_compress_as_it_likes_within_the_total() -> None:
    # Apache Tika's testPPT_EmbeddedPDF.pptx holds a 1 MiB EMF that deflates 667 times: a
    # real presentation was refused as a decompression bomb.
    drawing = zip_bytes({"ppt/media/image2.emf": bytes(2 * RATIO_GRACE_BYTES)})
    assert inspect_archive(drawing)
    too_large = zip_bytes({"ppt/media/image2.emf": bytes(MAX_UNPACKED_BYTES + 1)})
    with pytest.raises(ArchiveTooLargeError, match="unpacks to"):
        inspect_archive(too_large)


def test_small_parts_may_compress_as_they_like() -> None:
    assert inspect_archive(zip_bytes({"word/document.xml": bytes(RATIO_GRACE_BYTES)}))


def test_many_small_parts_over_the_total_are_refused() -> None:
    """Each part within the ratio grace; together over the limit."""
    parts = MAX_UNPACKED_BYTES // RATIO_GRACE_BYTES + 1
    data = zip_bytes(
        {f"xl/worksheets/sheet{i}.xml": bytes(RATIO_GRACE_BYTES) for i in range(parts)}
    )
    with pytest.raises(ArchiveTooLargeError) as refused:
        inspect_archive(data)
    assert f"more than the {MAX_UNPACKED_BYTES // MiB} MiB" in refused.value.message


def test_sizes_come_from_the_central_directory_without_unpacking() -> None:
    """The directory claims 4 GiB for a 5-byte part whose data is not even deflate: refused
    on the claim alone, so nothing was unpacked (zipfile caps a part at its claim)."""
    data = bytearray(zip_stored("word/document.xml", b"hello"))
    directory = data.index(b"PK\x01\x02")
    struct.pack_into("<L", data, directory + 24, 0xFFFF_FFF0)  # uncompressed size
    with pytest.raises(ArchiveTooLargeError, match="would expand"):
        inspect_archive(bytes(data))


def test_too_many_parts_are_refused() -> None:
    with pytest.raises(ArchiveTooLargeError) as refused:
        inspect_archive(many_entries_bomb(MAX_ENTRIES + 1))
    assert f"holds {MAX_ENTRIES + 1:,} parts" in refused.value.message


def test_the_declared_count_is_refused_before_the_directory_is_read() -> None:
    """An end record that declares a million entries over a garbage directory: refused for
    its count (zipfile would have failed on the directory, or built a million objects)."""
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF - 1, 0xFFFF - 1, 1000, 4, 0)
    with pytest.raises(ArchiveTooLargeError, match="65,534 parts"):
        inspect_archive(b"PK\x03\x04" + b"\x00" * 1000 + end)


def test_the_zip64_entry_count_is_read() -> None:
    """More than 65,535 entries: the count lives in the ZIP64 end record."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i in range(0x10000 + 1):
            archive.writestr(f"{i}", b"")
    with pytest.raises(ArchiveTooLargeError, match="65,537 parts"):
        inspect_archive(buffer.getvalue())


def test_overlapping_parts_are_refused() -> None:
    with pytest.raises(ArchiveTooLargeError, match="overlap"):
        inspect_archive(overlapping_bomb())


@pytest.mark.parametrize("data", [b"PK\x03\x04 not a zip", b""], ids=["garbage", "empty"])
def test_unreadable_archives_raise_bad_zip(data: bytes) -> None:
    with pytest.raises(zipfile.BadZipFile):
        inspect_archive(data)
