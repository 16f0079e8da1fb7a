"""ZIP containers (DOCX, PPTX, XLSX): refuse decompression bombs from the central directory."""

from __future__ import annotations

import io
import struct
import zipfile

# A real office document holds tens to a few thousand parts.
MAX_ENTRIES = 10_000
# Parsers hold every part in memory, several times over once the XML is a tree.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
# XML deflates 5 to 50 times, sometimes 100; deflate itself tops out near 1,032.
MAX_RATIO = 200
# Small parts may compress as they like: they cannot hurt.
RATIO_GRACE_BYTES = 1024 * 1024
# Media parts are held as bytes, never parsed, and a drawing or bitmap of blank space
# deflates a thousand times (a real PPTX's 1 MiB EMF: 667): they count in the total only.
_MEDIA_SUFFIXES = (".emf", ".wmf", ".bmp", ".tif", ".tiff", ".wdp", ".bin")

_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_MAX_COMMENT = 0xFFFF
_MiB = 1024 * 1024


class ArchiveTooLargeError(Exception):
    """The archive would unpack to more than a parser may hold; `message` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_zip(data: bytes) -> bool:
    """Return True when the bytes start like a ZIP archive."""
    return data.startswith(b"PK\x03\x04")


def inspect_archive(data: bytes) -> list[zipfile.ZipInfo]:
    """Return the entries of a ZIP archive after checking its size limits, before unpacking.

    Reads only the central directory (`zipfile` then caps every entry at the size declared
    there, so a lying entry fails its CRC instead of growing). Raises ArchiveTooLargeError
    for a decompression bomb and zipfile.BadZipFile for an archive that cannot be read.
    """
    declared = _declared_entries(data)
    if declared is not None and declared > MAX_ENTRIES:
        raise ArchiveTooLargeError(_too_many(declared))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except NotImplementedError as error:  # an entry's ZIP version past 6.3: garbled or new
        raise zipfile.BadZipFile(str(error)) from error
    if len(entries) > MAX_ENTRIES:
        raise ArchiveTooLargeError(_too_many(len(entries)))
    unpacked = packed = 0
    for entry in entries:
        unpacked += entry.file_size
        packed += entry.compress_size
        ratio = entry.file_size / max(entry.compress_size, 1)
        media = entry.filename.lower().endswith(_MEDIA_SUFFIXES)
        if entry.file_size > RATIO_GRACE_BYTES and ratio > MAX_RATIO and not media:
            raise ArchiveTooLargeError(
                f"the part {entry.filename[:100]!r} would expand {ratio:,.0f} times "
                f"(to {entry.file_size / _MiB:,.0f} MiB; the limit is {MAX_RATIO} times): "
                "the file looks like a decompression bomb; open it in its application, "
                "save it again and upload again"
            )
    if unpacked > MAX_UNPACKED_BYTES:
        raise ArchiveTooLargeError(
            f"the file unpacks to {unpacked / _MiB:,.0f} MiB, more than the "
            f"{MAX_UNPACKED_BYTES // _MiB} MiB a document may hold; split it (or remove "
            "large embedded media) and upload the parts"
        )
    if packed > len(data):
        raise ArchiveTooLargeError(
            "the archive's parts overlap each other (a decompression-bomb construction); "
            "open it in its application, save it again and upload again"
        )
    return entries


def _too_many(count: int) -> str:
    return (
        f"the archive holds {count:,} parts, more than the {MAX_ENTRIES:,} a document may "
        "have; split it into smaller files and upload those"
    )


def _declared_entries(data: bytes) -> int | None:
    """Return the entry count the end-of-directory record declares, or None when unreadable.

    Written here because `zipfile` builds an object per entry before anyone can count them:
    a 50 MiB archive can declare a million entries.
    """
    start = max(0, len(data) - _EOCD_SIZE - _MAX_COMMENT)
    at = data.rfind(_EOCD, start)
    if at < 0 or at + _EOCD_SIZE > len(data):
        return None
    (entries,) = struct.unpack_from("<H", data, at + 10)
    if entries != 0xFFFF:
        return int(entries)
    locator = at - 20  # ZIP64: the count lives in the ZIP64 end record
    if locator < 0 or data[locator : locator + 4] != _ZIP64_LOCATOR:
        return None
    (record,) = struct.unpack_from("<Q", data, locator + 8)
    if record + 40 > len(data) or data[record : record + 4] != _ZIP64_EOCD:
        return None
    (entries,) = struct.unpack_from("<Q", data, record + 32)
    return int(entries)
