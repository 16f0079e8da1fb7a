"""Shared opening of ZIP-based office documents: archive limits first, then one error shape."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.common.archive import ArchiveTooLargeError, inspect_archive
from services.parser.core.errors import ARCHIVE_TOO_LARGE, CORRUPT_FILE, ParseError
from services.parser.core.quiet import quiet


@contextmanager
def open_package(data: bytes, kind: str, fix: str) -> Iterator[None]:
    """Refuse a decompression bomb before anything unpacks, then run the body with whatever
    the library raises on a broken file turned into corrupt_file.

    `kind` names the format ("DOCX"), `fix` tells a person what to do ("save it again ...").
    """
    try:
        inspect_archive(data)
        with quiet("openpyxl"):
            yield
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
