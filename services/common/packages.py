"""What a ZIP-based upload is: an OOXML package (by its main part's name, else its content
type), an OpenDocument or an EPUB (by its `mimetype` entry, else an EPUB's container), and
why one is refused. Only the central directory and the heads of a few small parts are read
(`archive.inspect_archive` checks the sizes first): the upload check is not the parser's
sandbox.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib

from services.common.archive import ArchiveTooLargeError, inspect_archive
from services.common.media_types import (
    DOCX,
    EPUB,
    OPENDOCUMENT_MEDIA_TYPES,
    PPTX,
    XLSB,
    XLSX,
)

# The part that makes a ZIP archive an office document of each kind.
_OFFICE_MAIN_PARTS = (
    ("word/document.xml", DOCX),
    ("ppt/presentation.xml", PPTX),
    ("xl/workbook.xml", XLSX),
    ("xl/workbook.bin", XLSB),
)
# The content types of those main parts (macro-enabled, template and slide-show variants
# too), by which a package whose main part stands elsewhere is known: OPC puts it where the
# package's relationship points (pandoc's tests hold a `word/document2.xml`). The binary
# workbook (.xlsb) is the same packaging around BIFF12 parts, read by another library.
_OFFICE_MAIN_TYPES = {
    f"application/vnd.{family}.main+xml": kind
    for kind, families in (
        (DOCX, ("openxmlformats-officedocument.wordprocessingml.document",
                "openxmlformats-officedocument.wordprocessingml.template",
                "ms-word.document.macroEnabled", "ms-word.template.macroEnabledTemplate")),
        (PPTX, ("openxmlformats-officedocument.presentationml.presentation",
                "openxmlformats-officedocument.presentationml.slideshow",
                "openxmlformats-officedocument.presentationml.template",
                "ms-powerpoint.presentation.macroEnabled", "ms-powerpoint.slideshow.macroEnabled",
                "ms-powerpoint.template.macroEnabled")),
        (XLSX, ("openxmlformats-officedocument.spreadsheetml.sheet",
                "openxmlformats-officedocument.spreadsheetml.template",
                "ms-excel.sheet.macroEnabled", "ms-excel.template.macroEnabled")),
    )
    for family in families
} | {"application/vnd.ms-excel.sheet.binary.macroEnabled.main": XLSB}  # fmt: skip
_EPUB_CONTAINER = "META-INF/container.xml"
_EPUB_PACKAGE = b"application/oebps-package+xml"  # the media type of the rootfile it names
_CONTENT_TYPES = "[Content_Types].xml"
_DECLARATION_BYTES = 256 * 1024  # of a content types part or a container read (real: KiB)
# An attribute of [Content_Types].xml: fixed-width pieces and one bounded run, no nesting.
_CONTENT_TYPE_ATTRIBUTE = re.compile(rb"""ContentType\s*=\s*["']([^"'<>]{1,200})["']""")


# What reading a damaged ZIP raises: its directory, a part's CRC, its deflate stream.
# NotImplementedError: an entry packed by a method zipfile lacks (Deflate64, AES) or a newer
# ZIP version (_unpackable finds those first; this is the net behind it).
_UNREADABLE_ZIP = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    ValueError,
    EOFError,
    NotImplementedError,
)
_UNPACKED_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_ZIP_VERSION = 63  # zipfile.MAX_EXTRACT_VERSION: it refuses entries needing a later one
_MANIFEST_BYTES = 1024 * 1024  # of an OpenDocument's manifest read (a real one: a few KiB)
# Parts only an Apple iWork document has: since 2013 (protobuf `.iwa` parts), before (XML)
_IWORK_PARTS = frozenset({"Index/Document.iwa", "buildVersionHistory.plist"})


def package_reason(data: bytes) -> str:
    """Why a ZIP archive is refused: cut short or unreadable, too large, or not office."""
    try:
        entries = inspect_archive(data)
        if any(entry.filename in _IWORK_PARTS for entry in entries):
            # Before the methods: a password-protected iWork '09 document names methods no
            # ZIP tool knows, and is an iWork document all the same.
            return (
                "an Apple iWork document (Pages, Numbers or Keynote), which Sluice does not"
                " read: export it as .docx, .xlsx, .pptx or PDF and upload that"
            )
        entry = _unpackable(entries)
        if entry is None:
            return _zip_content_reason(data)
        return (
            f"a ZIP archive packed with a compression method Sluice cannot unpack (its part"
            f" {entry.filename[:100]!r}: method {entry.compress_type}, ZIP version"
            f" {entry.extract_version / 10}; Deflate64 or AES encryption?): save it again from"
            " the program that made it (or zip it with standard Deflate) and upload again"
        )
    except _UNREADABLE_ZIP as error:
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        return (
            f"a ZIP archive (as DOCX, PPTX and XLSX are) that cannot be read ({reason}):"
            " it may be cut short; upload the complete file again"
        )
    except ArchiveTooLargeError as error:
        return error.message


def _unpackable(entries: list[zipfile.ZipInfo]) -> zipfile.ZipInfo | None:
    """The first entry Python's zipfile cannot unpack (it raises NotImplementedError: an
    unknown compression method such as Deflate64 or AES, a ZIP version past 6.3), or None."""
    return next(
        (
            entry
            for entry in entries
            if entry.compress_type not in _UNPACKED_METHODS or entry.extract_version > _ZIP_VERSION
        ),
        None,
    )


def _zip_content_reason(data: bytes) -> str:
    """Why a readable ZIP archive is refused: what its parts say it is."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        if "mimetype" in names and _odf_encrypted(archive):
            return (
                "a password-protected OpenDocument file; save it without a password and upload"
                " again"
            )
    parts = ", ".join(part for part, _ in _OFFICE_MAIN_PARTS)
    return (
        "a ZIP archive that is no document Sluice reads: not a DOCX, PPTX, XLSX or XLSB (it has"
        f" none of {parts}), nor an OpenDocument or EPUB (no `mimetype` entry naming one)"
    )


def package_kind(data: bytes) -> str | None:
    """Return the office media type of a ZIP archive, or None: an OOXML package by its main
    part's name, else by that part's content type; an OpenDocument or EPUB by its `mimetype`
    entry, else an EPUB by its container. The archive is opened once for all of them."""
    try:
        # Some tools write folders apart by backslashes; readers take them as slashes.
        entries = inspect_archive(data)
        if _unpackable(entries) is not None:
            return None  # its parts cannot be read: package_reason says why
        names = {entry.filename.replace("\\", "/") for entry in entries}
        kind = next((kind for part, kind in _OFFICE_MAIN_PARTS if part in names), None)
        if kind is not None:
            return kind
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _content_types_kind(archive, names) or _mimetype_kind(archive, names)
    except (ArchiveTooLargeError, *_UNREADABLE_ZIP):
        return None


def _content_types_kind(archive: zipfile.ZipFile, names: set[str]) -> str | None:
    """An OOXML package's media type, from the content type of its main part wherever that
    stands, or None (no content types part, or none of a main part Sluice reads)."""
    if _CONTENT_TYPES not in names:
        return None
    declared = _head_of(archive, _CONTENT_TYPES, _DECLARATION_BYTES)
    kinds = (_OFFICE_MAIN_TYPES.get(found.decode("ascii", "replace").strip()) for found in
             _CONTENT_TYPE_ATTRIBUTE.findall(declared))  # fmt: skip
    return next((kind for kind in kinds if kind is not None), None)


def _mimetype_kind(archive: zipfile.ZipFile, names: set[str]) -> str | None:
    """An OpenDocument's or an EPUB's media type, from its `mimetype` entry, or None: neither,
    or an OpenDocument with its content encrypted (a password: said by `unsupported_reason`)."""
    if "mimetype" not in names:
        return _container_kind(archive, names)
    kind = _head_of(archive, "mimetype", 100).decode("ascii", "replace").strip()
    kind = kind.removesuffix("-template")  # .ott, .ots, .otp, .otg: read as their kind
    if kind == EPUB:
        return EPUB
    if kind not in OPENDOCUMENT_MEDIA_TYPES or "content.xml" not in names:
        return None
    return None if _odf_encrypted(archive) else kind


def _container_kind(archive: zipfile.ZipFile, names: set[str]) -> str | None:
    """EPUB for a book without its `mimetype` entry whose container names a package (an
    invalid EPUB that readers open, as Sluice's reader does), else None."""
    if _EPUB_CONTAINER not in names:
        return None
    return EPUB if _EPUB_PACKAGE in _head_of(archive, _EPUB_CONTAINER, _DECLARATION_BYTES) else None


def _odf_encrypted(archive: zipfile.ZipFile) -> bool:
    """True when an OpenDocument's manifest lists encrypted parts (a password); False when it
    has none or none that can be read (the parser then says what is wrong with it)."""
    try:
        return b"encryption-data" in _head_of(archive, "META-INF/manifest.xml", _MANIFEST_BYTES)
    except (KeyError, *_UNREADABLE_ZIP):
        return False


def _head_of(archive: zipfile.ZipFile, name: str, size: int) -> bytes:
    """The first `size` bytes of a part: the upload check unpacks no more of one (ingest is
    not the parser's sandbox, and a part may unpack to hundreds of MiB)."""
    with archive.open(name) as part:
        return part.read(size)
