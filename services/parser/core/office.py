"""Shared opening of ZIP-based office documents: archive limits first, then one error shape."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

from services.common.archive import ArchiveTooLargeError, inspect_archive
from services.parser.core.errors import ARCHIVE_TOO_LARGE, CORRUPT_FILE, ParseError
from services.parser.core.quiet import quiet

# ISO/IEC 29500 Strict (Excel's and Word's "Strict Open XML" format) names its namespaces and
# relationship types under purl.oclc.org, Transitional under schemas.openxmlformats.org, and
# openpyxl, python-docx and python-pptx know only the second: a Strict workbook opened with
# no sheet at all, and its text was lost. No library converts one into the other; for the
# parts the text comes from the renaming is the whole difference (dates written ISO 8601 in
# cells, the other difference, openpyxl reads).
_STRICT = re.compile(rb"http://purl\.oclc\.org/ooxml/(\w+)/(\w+)(/\w+)?")
_RENAMED = {
    b"extendedProperties": b"extended-properties",
    b"customProperties": b"custom-properties",
    b"/extendedProperties": b"/extended-properties",
    b"/customProperties": b"/custom-properties",
}


@contextmanager
def open_package(data: bytes, kind: str, fix: str) -> Iterator[bytes]:
    """Refuse a decompression bomb before anything unpacks, then run the body with whatever
    the library raises on a broken file turned into corrupt_file.

    Yields the package to open: `data`, or its Transitional form when it is Strict.
    `kind` names the format ("DOCX"), `fix` tells a person what to do ("save it again ...").
    """
    try:
        inspect_archive(data)
        with quiet("openpyxl"):
            yield transitional(data)
    except ArchiveTooLargeError as exc:
        raise ParseError(ARCHIVE_TOO_LARGE, exc.message) from exc
    except (ParseError, MemoryError):
        raise
    except Exception as exc:  # zip, XML, key and value errors on broken files
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ParseError(
            CORRUPT_FILE,
            f"the {kind} file could not be read: {reason[:200]}; {fix} and upload again",
        ) from exc


def transitional(data: bytes) -> bytes:
    """The package with ISO Strict names renamed to their Transitional ones; `data` itself
    when the package is not Strict (its root relationships say which)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        try:
            root = archive.read("_rels/.rels")
        except KeyError:
            return data  # no package relationships: the library says what is wrong
        if not _STRICT.search(root):
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as renamed:
            for entry in archive.infolist():
                part = archive.read(entry)
                if entry.filename.endswith((".xml", ".rels")):
                    part = _STRICT.sub(_transitional_name, part)
                renamed.writestr(entry.filename, part)
    return out.getvalue()


def _transitional_name(match: re.Match[bytes]) -> bytes:
    area, name, kind = match[1], match[2], match[3] or b""
    name, kind = _RENAMED.get(name, name), _RENAMED.get(kind, kind)
    return b"http://schemas.openxmlformats.org/%s/2006/%s%s" % (area, name, kind)
