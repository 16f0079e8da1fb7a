"""Media-type sniffing from raw bytes and filename sanitising for uploads."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from pathlib import PurePosixPath

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
MARKDOWN = "text/markdown"
PLAIN = "text/plain"

ALLOWED_MEDIA_TYPES: frozenset[str] = frozenset({PDF, DOCX, HTML, MARKDOWN, PLAIN})

MAX_FILENAME_CHARS = 255
FALLBACK_FILENAME = "upload"

_SNIFF_BYTES = 64 * 1024
_HTML_HEAD_CHARS = 1024
_MAX_CONTROL_RATIO = 0.01
_MARKDOWN_SUFFIXES = (".md", ".markdown")

_HTML_START = re.compile(r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)
_HTML_TAG = re.compile(r"<(?:head|body|title|p|div|h[1-6]|meta|article)\b[^>]*>", re.I)
_MD_HEADING = re.compile(r"^#{1,6} \S", re.M)
_MD_FENCE = re.compile(r"^```", re.M)
_MD_LINK = re.compile(r"\[[^\]\n]+\]\([^)\s]+\)")
_MD_LIST = re.compile(r"^(?:[-*+]|\d+\.) \S", re.M)


def sniff_media_type(data: bytes, filename: str | None = None) -> str | None:
    """Return the media type the bytes really are, or None when unknown or not allowed."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"PK\x03\x04"):
        return DOCX if _is_docx(data) else None
    text = _decode_text(data[:_SNIFF_BYTES], truncated=len(data) > _SNIFF_BYTES)
    if text is None or not _looks_like_text(text):
        return None
    if _looks_like_html(text):
        return HTML
    if _looks_like_markdown(text, filename):
        return MARKDOWN
    return PLAIN


def _is_docx(data: bytes) -> bool:
    """Return True when the bytes are a readable zip that holds word/document.xml."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def _decode_text(head: bytes, *, truncated: bool) -> str | None:
    """Decode the leading bytes as UTF-8 or BOM-marked UTF-16, or return None."""
    encoding = "utf-16" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    if truncated:
        # The cut may split a multi-byte character; drop a few trailing bytes at most.
        for cut in range(4):
            try:
                return head[: len(head) - cut].decode(encoding)
            except UnicodeDecodeError:
                continue
        return None
    try:
        return head.decode(encoding)
    except UnicodeDecodeError:
        return None


def _looks_like_text(text: str) -> bool:
    """Return True when the text is not empty and holds few control characters."""
    if not text.strip():
        return False
    controls = sum(
        1 for ch in text if ch not in "\t\n\r\f" and unicodedata.category(ch) in ("Cc", "Cs")
    )
    return controls <= len(text) * _MAX_CONTROL_RATIO


def _looks_like_html(text: str) -> bool:
    """Return True when the text starts like an HTML document or has HTML tags early on."""
    head = text[:_HTML_HEAD_CHARS]
    return bool(_HTML_START.match(head) or _HTML_TAG.search(head))


def _looks_like_markdown(text: str, filename: str | None) -> bool:
    """Return True for a Markdown filename or for text with strong Markdown signals."""
    if filename and filename.lower().endswith(_MARKDOWN_SUFFIXES):
        return True
    if _MD_HEADING.search(text) or _MD_FENCE.search(text):
        return True
    return bool(_MD_LINK.search(text) and _MD_LIST.search(text))


def sanitize_filename(name: str | None) -> str:
    """Return a safe base filename: no directories, no control characters, at most 255 chars."""
    if not name:
        return FALLBACK_FILENAME
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    cleaned = cleaned.lstrip(".").strip()
    if not cleaned:
        return FALLBACK_FILENAME
    if len(cleaned) > MAX_FILENAME_CHARS:
        stem, dot, suffix = cleaned.rpartition(".")
        if dot and 0 < len(suffix) <= 16 and stem:
            cleaned = stem[: MAX_FILENAME_CHARS - len(suffix) - 1] + "." + suffix
        else:
            cleaned = cleaned[:MAX_FILENAME_CHARS]
    return cleaned
