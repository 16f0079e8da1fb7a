"""PDF text extraction with pypdf."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, WrongPasswordError

from services.parser.core.errors import CORRUPT_FILE, ENCRYPTED_PDF, ParseError
from services.parser.core.parsed import ParsedText

_ENCRYPTED_MESSAGE = (
    "the PDF is password-protected; remove the password (print or export it to a new PDF) "
    "and upload again"
)


def extract_pdf(data: bytes) -> ParsedText:
    """Extract the text of every page; pages are separated by a blank line."""
    with _quiet_pypdf():
        try:
            reader = PdfReader(io.BytesIO(data))
            _unlock(reader)
            pages = [page.extract_text() or "" for page in reader.pages]
        except ParseError:
            raise
        except (FileNotDecryptedError, WrongPasswordError) as exc:
            raise ParseError(ENCRYPTED_PDF, _ENCRYPTED_MESSAGE) from exc
        except Exception as exc:  # pypdf raises many types on hostile input
            raise ParseError(
                CORRUPT_FILE,
                f"the PDF could not be read: {_reason(exc)}; re-export it and upload again",
            ) from exc
        title = _title(reader)
        sections = _outline_titles(reader)
    text = "\n\n".join(page.strip("\n") for page in pages)
    return ParsedText(text=text, title=title, page_count=len(pages), sections=sections)


def _unlock(reader: PdfReader) -> None:
    """Open an encrypted PDF with the empty password, or raise encrypted_pdf."""
    if not reader.is_encrypted:
        return
    try:
        opened = reader.decrypt("")
    except DependencyError as exc:
        raise ParseError(ENCRYPTED_PDF, _ENCRYPTED_MESSAGE) from exc
    if not opened:
        raise ParseError(ENCRYPTED_PDF, _ENCRYPTED_MESSAGE)


def _title(reader: PdfReader) -> str | None:
    """Return the document title from the metadata, if it has a readable one."""
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # noqa: BLE001 - the title is optional; a broken info dict is not fatal
        return None
    return title.strip() or None if isinstance(title, str) else None


def _outline_titles(reader: PdfReader) -> list[str]:
    """Return the top-level bookmark titles, or nothing when the outline is unreadable."""
    try:
        return [item.title for item in reader.outline if not isinstance(item, list) and item.title]
    except Exception:  # noqa: BLE001 - the outline is optional; a broken one is not fatal
        return []


def _reason(exc: Exception) -> str:
    """Return a short human reason for a pypdf failure."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Silence pypdf's warnings about malformed files while we read one."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
