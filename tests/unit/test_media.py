"""Unit tests for media-type sniffing and filename sanitising."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pytest

from services.common.media import (
    ALLOWED_MEDIA_TYPES,
    DOCX,
    HTML,
    MARKDOWN,
    PDF,
    PLAIN,
    sanitize_filename,
    sniff_media_type,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class Sniff:
    """Input to sniff_media_type."""

    data: bytes
    filename: str | None = None


G = TypeVar("G")
E = TypeVar("E")


@dataclass(frozen=True)
class Case(Generic[G, E]):
    """One table row: what is given and what is expected."""

    description: str
    given: G
    expected: E


def _zip(entries: dict[str, bytes]) -> bytes:
    """Return a zip archive holding the given entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _example(name: str) -> bytes:
    """Return the bytes of an example file."""
    return (EXAMPLES / name).read_bytes()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
RANDOM = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(16))

SNIFF_CASES: list[Case[Sniff, str | None]] = [
    Case("pdf magic", Sniff(b"%PDF-1.7\n1 0 obj\n"), PDF),
    Case("pdf ignores a lying filename", Sniff(b"%PDF-1.4\n", "notes.txt"), PDF),
    Case("docx zip", Sniff(_zip({"word/document.xml": b"<w:document/>"})), DOCX),
    Case("zip that is not docx", Sniff(_zip({"readme.txt": b"hello"}), "a.docx"), None),
    Case("broken zip", Sniff(b"PK\x03\x04 not really a zip at all"), None),
    Case("png", Sniff(PNG, "picture.txt"), None),
    Case("random bytes", Sniff(RANDOM), None),
    Case("empty", Sniff(b""), None),
    Case("only whitespace", Sniff(b"  \n\t\n"), None),
    Case("doctype html", Sniff(b"<!DOCTYPE html><html><body>hi</body></html>"), HTML),
    Case("html tag after comment", Sniff(b"<!-- c -->\n<html lang='en'>x</html>"), HTML),
    Case("fragment with body tag", Sniff(b"Hello\n<body><p>text</p></body>"), HTML),
    Case("html wins over .md filename", Sniff(b"<html><p>x</p></html>", "page.md"), HTML),
    Case("markdown by filename", Sniff(b"just some words", "Notes.MD"), MARKDOWN),
    Case("markdown by .markdown", Sniff(b"just some words", "n.markdown"), MARKDOWN),
    Case("markdown by heading", Sniff(b"intro\n\n# Heading\n\nbody text\n"), MARKDOWN),
    Case("markdown by fence", Sniff(b"Run this:\n```\nls\n```\n"), MARKDOWN),
    Case("plain text", Sniff(b"Hello, world.\nSecond line.\n", "hello.txt"), PLAIN),
    Case("hash without space is plain", Sniff(b"#hashtag and more words\n"), PLAIN),
    Case("utf-8 with bom", Sniff("\ufeffcaf\u00e9 au lait".encode()), PLAIN),
    Case("utf-16 le with bom", Sniff("Gr\u00fc\u00dfe aus Z\u00fcrich".encode("utf-16")), PLAIN),
    Case("utf-16 be with bom", Sniff(b"\xfe\xff" + "Hello there".encode("utf-16-be")), PLAIN),
    Case("utf-16 without bom is binary", Sniff("Hello there".encode("utf-16-le")), None),
    Case("invalid utf-8", Sniff(b"caf\xe9 \xff\xfe\xfd"), None),
    Case("many control chars", Sniff(b"ab\x01\x02\x03\x04cd" * 20), None),
    Case("long text cut inside a character", Sniff(("\u00e9" * 40_000).encode()), PLAIN),
    Case("example txt", Sniff(_example("kafka-basics.txt"), "kafka-basics.txt"), PLAIN),
    Case("example md", Sniff(_example("sourdough.md"), "sourdough.md"), MARKDOWN),
    Case("example md without name", Sniff(_example("sourdough.md")), MARKDOWN),
    Case("example html", Sniff(_example("lighthouses.html"), "lighthouses.html"), HTML),
    Case("example pdf", Sniff(_example("photosynthesis.pdf")), PDF),
    Case("example docx", Sniff(_example("tea.docx"), "tea.docx"), DOCX),
    Case("corrupt pdf is still pdf by magic", Sniff(_example("bad/corrupt.pdf")), PDF),
    Case("example random.bin", Sniff(_example("bad/random.bin"), "random.txt"), None),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", SNIFF_CASES, ids=[c.description for c in SNIFF_CASES])
def test_sniff_media_type(case: Case[Sniff, str | None]) -> None:
    assert sniff_media_type(case.given.data, case.given.filename) == case.expected


@pytest.mark.unit
def test_every_sniffed_type_is_allowed() -> None:
    sniffed = {c.expected for c in SNIFF_CASES if c.expected is not None}
    assert sniffed == set(ALLOWED_MEDIA_TYPES)


FILENAME_CASES: list[Case[str | None, str]] = [
    Case("plain name kept", "report.pdf", "report.pdf"),
    Case("none falls back", None, "upload"),
    Case("empty falls back", "", "upload"),
    Case("posix directories stripped", "/etc/passwd", "passwd"),
    Case("traversal stripped", "../../secret/notes.md", "notes.md"),
    Case("windows directories stripped", "C:\\Users\\me\\cv.docx", "cv.docx"),
    Case("dot-dot only falls back", "..", "upload"),
    Case("control chars removed", "re\x00po\nrt\t.txt", "report.txt"),
    Case("leading dots removed", ".hidden.txt", "hidden.txt"),
    Case("surrounding spaces removed", "  my file.txt  ", "my file.txt"),
    Case("unicode kept", "caf\u00e9 men\u00fc.md", "caf\u00e9 men\u00fc.md"),
    Case("long name keeps extension", "a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    Case("long name without extension cut", "b" * 300, "b" * 255),
    Case("trailing slash falls back", "dir/", "dir"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", FILENAME_CASES, ids=[c.description for c in FILENAME_CASES])
def test_sanitize_filename(case: Case[str | None, str]) -> None:
    result = sanitize_filename(case.given)
    assert result == case.expected
    assert len(result) <= 255
    assert "/" not in result
    assert "\\" not in result
