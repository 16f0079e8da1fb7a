"""The parser's work grows linearly with hostile input and stops at its bounds.

Each pattern made a regex or parser of ours backtrack quadratically (a 32 KB line of `**a `
took 2.9 s in the Markdown emphasis regex; 80 KB of `<a ` a minute in html.parser; a long run
of spaces before a word the trailing-space regex). Checked twice: growth from n to 4n where
the old code still finishes, and at the largest upload, where only a bound keeps it short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from services.common.media import EMAIL, HTML, MARKDOWN, PLAIN, RTF
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from services.parser.core.text import normalize_text
from tests.fixtures.scaling import LINEAR_GROWTH_BOUND, growth

pytestmark = pytest.mark.unit

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # IngestSettings.max_upload_bytes default


@dataclass(frozen=True)
class Hostile:
    """A pattern repeated to a size, and the media type it is parsed as."""

    pattern: str
    media_type: str

    def sized(self, size: int) -> bytes:
        """The pattern repeated to about `size` bytes."""
        return (self.pattern * (size // len(self.pattern))).encode()


def _parse(media_type: str) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        try:
            return extract(data, media_type)
        except ParseError as error:  # no_text for markup without words is a fine outcome
            return error

    return run


PATTERNS: dict[str, tuple[Hostile, int]] = {
    "markdown emphasis openers": (Hostile("**a ", MARKDOWN), 8 * 1024),
    "markdown link openers": (Hostile("[", MARKDOWN), 8 * 1024),
    "markdown link halves": (Hostile("[a](", MARKDOWN), 8 * 1024),
    "markdown image openers": (Hostile("![", MARKDOWN), 8 * 1024),
    "html unclosed tags": (Hostile("<a ", HTML), 5 * 1024),
    "html unclosed attributes": (Hostile("<a b='", HTML), 5 * 1024),
    "html comment openers": (Hostile("<!--", HTML), 5 * 1024),
    "plain text spaces": (Hostile(" ", PLAIN), 10 * 1024),
    "e-mail header lines": (Hostile("X-A: b\n", EMAIL), 16 * 1024),
    "e-mail folded header lines": (Hostile(" x\n", EMAIL), 16 * 1024),
    "e-mail multiparts nested in multiparts": (
        Hostile('Content-Type: multipart/mixed; boundary="b"\n\n--b\n', EMAIL),
        4 * 1024,
    ),
    "rtf group openers": (Hostile("{", RTF), 16 * 1024),
    "rtf pictures never closed": (Hostile("{\\pict ", RTF), 16 * 1024),
    "rtf hyperlink fields never closed": (
        Hostile('{\\field{\\*\\fldinst HYPERLINK "x"}{\\fldrslt ', RTF),
        16 * 1024,
    ),
    "e-mail encoded words": (
        Hostile("Subject: =?utf-8?q?a?= =?utf-8?b?YQ==?=\n", EMAIL),
        16 * 1024,
    ),
}


@pytest.mark.parametrize("name", PATTERNS)
def test_growth_from_n_to_4n_is_linear(name: str) -> None:
    hostile, size = PATTERNS[name]
    run = _parse(hostile.media_type)
    small, large = hostile.sized(size) + b"x", hostile.sized(4 * size) + b"x"
    assert growth(run, small, large) < LINEAR_GROWTH_BOUND


MAXIMUM: dict[str, Hostile] = {
    "markdown emphasis openers": Hostile("**a ", MARKDOWN),
    "markdown lines": Hostile("a\n", MARKDOWN),
    "html unclosed tags": Hostile("<a ", HTML),
    "spaces before a word, one long line": Hostile(" " * 4096 + "x", PLAIN),
}


@pytest.mark.parametrize("name", MAXIMUM)
def test_the_largest_upload_is_bounded(name: str) -> None:
    """A quarter of the largest upload against all of it: no more than linear."""
    hostile = MAXIMUM[name]
    quarter, largest = hostile.sized(MAX_UPLOAD_BYTES // 4), hostile.sized(MAX_UPLOAD_BYTES)
    assert len(largest) > MAX_UPLOAD_BYTES - 4096
    assert growth(_parse(hostile.media_type), quarter, largest, repeats=1) < LINEAR_GROWTH_BOUND


def test_normalising_trailing_spaces_grows_linearly() -> None:
    """`[ \\t]+$` under re.M took 31 s for 80,000 spaces followed by a word."""
    small, large = " " * 10_000 + "x", " " * 40_000 + "x"
    assert growth(normalize_text, small, large) < LINEAR_GROWTH_BOUND
