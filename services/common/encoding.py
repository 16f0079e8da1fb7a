"""Which encoding a text document is in: byte-order mark, UTF-8, else charset-normalizer."""

from __future__ import annotations

import codecs
import re

import charset_normalizer
from charset_normalizer.utils import is_multi_byte_encoding

# What detection reads at most: enough for a confident guess, small enough to stay fast.
SAMPLE_BYTES = 256 * 1024
# At most this share of a decoded text may be control or replacement characters.
MAX_UNREADABLE_SHARE = 0.01

# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control characters other than tab, newline, carriage return and form feed, C1 controls, and
# the replacement character that a lenient decode leaves for bytes it could not map.
_UNREADABLE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
# Windows-1252 wins over another single-byte guess that explains the bytes no better: it is
# what legacy Western text almost always is, and short samples cannot tell code pages apart.
_WESTERN = "cp1252"
_WESTERN_SLACK = 0.01
# The 7-bit escape-sequence encodings (ISO-2022-JP is still how most Japanese mail is sent).
# charset-normalizer reads them as ASCII full of ESC controls; their escapes name them, so
# the first of these that decodes the whole sample into readable text is the one.
_ESCAPE_ENCODINGS = ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_3", "iso2022_jp_ext", "iso2022_kr")
_MULTI_BYTE_ESCAPE = b"\x1b$"  # ESC $: the designation of a two-byte character set
# Bytes below 0x40 are whole characters in every ASCII-compatible encoding (multi-byte ones
# use 0x40 and up for their trailing bytes), and an even length splits no UTF-16 code unit:
# a sample cut after such a byte at an odd index splits no character in either.
_SAFE_CUT = 0x40
_CUT_SEARCH = 4096


def bom_encoding(data: bytes) -> str | None:
    """Return the codec named by a leading byte-order mark, or None."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def unreadable_share(text: str) -> float:
    """Return the share of characters that no reader wants: controls and replacement marks."""
    if not text:
        return 0.0
    return (len(text) - len(_UNREADABLE.sub("", text))) / len(text)


def sample_of(data: bytes, *, size: int = SAMPLE_BYTES) -> bytes:
    """Return the first bytes of `data` (at most `size`), cut between two characters."""
    sample = data[:size]
    if len(data) <= size:
        return sample
    last = len(sample) - 1 - (len(sample) % 2 == 1)  # an odd index, so the cut is even
    cut = next(
        (i + 1 for i in range(last, max(-1, last - _CUT_SEARCH), -2) if sample[i] < _SAFE_CUT),
        len(sample) - len(sample) % 2,
    )
    return sample[:cut]


def telling_sample(data: bytes, *, size: int = SAMPLE_BYTES) -> bytes:
    """Return a sample that shows the encoding of a whole document.

    From the start, or from shortly before the first non-ASCII byte when that lies further
    in: a long ASCII preamble says nothing about the encoding.
    """
    if b"\x00" not in data[:size]:
        first = _NON_ASCII.search(data)
        if first is not None and first.start() > size // 2:
            # Only ASCII before `first`: any offset there is the start of a character.
            return sample_of(data[(first.start() - 1024) & ~1 :], size=size)
    return sample_of(data, size=size)


def detect_encoding(sample: bytes) -> str | None:
    """Return the codec that decodes `sample` into readable text, or None for binary data.

    `sample` must not end inside a character (see `sample_of`).
    """
    bom = bom_encoding(sample)
    if bom is not None:
        return bom
    escaped = escape_encoding(sample)
    if escaped is not None:
        return escaped
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if "\x00" not in text:
            return "utf-8"
    best = charset_normalizer.from_bytes(sample).best()
    if best is None:
        return None
    if not is_multi_byte_encoding(best.encoding) and best.encoding != _WESTERN:
        western = charset_normalizer.from_bytes(sample, cp_isolation=[_WESTERN]).best()
        if western is not None and western.chaos <= best.chaos + _WESTERN_SLACK:
            return _WESTERN
    return best.encoding


def escape_encoding(sample: bytes) -> str | None:
    """Return the ISO-2022 codec a 7-bit sample with two-byte designations is in, or None."""
    if _MULTI_BYTE_ESCAPE not in sample or not sample.isascii():
        return None
    for encoding in _ESCAPE_ENCODINGS:
        try:
            # Not final: a sample may end inside a character or an escape sequence.
            text = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        if unreadable_share(text) <= MAX_UNREADABLE_SHARE:  # ISO-2022-JP-2 leaves SO/SI
            return encoding
    return None
