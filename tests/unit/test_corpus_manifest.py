"""The real-world corpus is what its manifest says: every file listed, sourced, licensed, intact.

Also checks that the corpus still covers what issue 8 asks of it (formats, hostile PDFs, legacy
encodings), so trimming it cannot silently drop a kind of file.
"""

import re
from collections import Counter

import pytest

from tests.fixtures.corpus import CORPUS_DIR, load_manifest, sha256

pytestmark = pytest.mark.unit

FILES = load_manifest()
NOT_CORPUS = {"MANIFEST.json", "README.md", ".gitattributes"}
MAX_TOTAL_BYTES = 40 * 1024 * 1024
FORMATS = {
    "pdf",
    "docx",
    "pptx",
    "xlsx",
    "html",
    "md",
    "txt",
    "eml",
    "mbox",
    "xml",
    "vtt",
    "ipynb",
    "rtf",
    "odt",
    "ods",
    "odp",
    "odg",
    "fodt",
    "fods",
    "epub",
    "xls",
    "xlsb",
    "doc",
    "msg",
    "ppt",
    "opml",
    "p7m",
}
PDF_KINDS = {
    "broken",
    "encrypted",
    "image-only",
    "outline",
    "large-outline",
    "rtl",
    "multi-column",
    "cjk",
    "odd-encoding",
}
TEXT_ENCODINGS = {"windows-1252", "latin-1", "shift-jis", "euc-jp", "big5", "utf-16", "no-bom"}


def test_the_corpus_is_large_varied_and_small_enough() -> None:
    assert len(FILES) >= 150
    assert len({f.source for f in FILES}) >= 2
    assert sum(f.size for f in FILES) <= MAX_TOTAL_BYTES
    assert len({f.path for f in FILES}) == len(FILES), "paths are unique"
    assert len({f.sha256 for f in FILES}) == len(FILES), "no file is in twice"


def test_every_file_on_disk_is_in_the_manifest_and_intact() -> None:
    on_disk = {
        str(p.relative_to(CORPUS_DIR))
        for p in CORPUS_DIR.rglob("*")
        if p.is_file() and p.relative_to(CORPUS_DIR).parts[0] not in NOT_CORPUS
    }
    assert on_disk == {f.path for f in FILES}
    for entry in FILES:
        data = entry.read()
        assert (len(data), sha256(data)) == (entry.size, entry.sha256), entry.path


def test_every_file_says_where_it_came_from_and_under_which_licence() -> None:
    for entry in FILES:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry.source), entry
        assert re.fullmatch(r"[0-9a-f]{40}", entry.commit), entry
        assert entry.original_path and entry.license, entry
        assert entry.format in FORMATS, entry


def test_the_corpus_covers_every_format_and_kind_of_hard_file() -> None:
    formats = Counter(f.format for f in FILES)
    assert formats.keys() >= FORMATS, formats
    pdf_tags = Counter(t for f in FILES if f.format == "pdf" for t in f.tags)
    assert pdf_tags.keys() >= PDF_KINDS, pdf_tags
    text_tags = {t for f in FILES if f.format in {"txt", "html", "md"} for t in f.tags}
    assert text_tags >= TEXT_ENCODINGS, text_tags
    assert any(f.format in {"txt", "html"} and "rtl" in f.tags for f in FILES)
