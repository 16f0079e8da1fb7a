"""Which encoding a text document is in: byte-order mark, UTF-8, else chardet."""

from __future__ import annotations

import codecs
import re

import chardet

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
# A terminal's escape sequences (ECMA-48: CSI colours and cursor moves, OSC titles and links,
# two-character escapes; not ISO-2022's `ESC $`/`ESC (`, decoded before this is used): a
# coloured log is text. Linear: bounded classes, one unbounded run ended by its terminator.
TERMINAL_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]"
)
# Windows-1252 wins over a guess it nearly matches: it is what legacy Western text almost
# always is, and a short sample (one "Caf\xe9") or one long in ASCII cannot tell code pages
# apart (chardet named Greek and Romanian ones). Also the code page of 8-bit text that names
# none where no guess is made (a mail header's raw bytes, an RTF or Outlook body).
WESTERN = "cp1252"
_WESTERN_SHARE = 0.85
# Code pages few documents are in, which a short sample of another language fits by chance
# (a Czech sentence in Latin-2 was read as Urdu cp1006); leaving them out cost nothing on
# chardet's test files.
_RARE = ("cp1006", "koi8-t", "kz1048", "ptcp154", "hp-roman8", "cp720", "cp1125")
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
    """Return the share of characters that no reader wants: controls and replacement marks
    (a terminal's escape sequences aside: they are left out of the text)."""
    if "\x1b" in text:
        text = TERMINAL_ESCAPES.sub("", text)
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


def utf8_whatever_its_label(data: bytes) -> bool:
    """Whether `data` is UTF-8 holding non-ASCII characters, so that a label naming another
    charset (a MIME part's `charset`, an XML declaration's `encoding`) is wrong. Mail programs,
    bulk senders and feed generators write `iso-8859-1` or `us-ascii` over UTF-8 often enough;
    read by such a label, each "\u2019" became "â" and two control characters. Text really
    written in a one-byte code page is not valid UTF-8 once it holds an accented letter next
    to an ASCII one, nor is Japanese, Chinese or Korean text in its legacy encodings. Data
    with NULs is not taken: UTF-16 and UTF-32 are left to their label."""
    if data.isascii() or b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _western_bytes(error: UnicodeError) -> tuple[str, int]:
    """A decode error handler: the bytes that are not UTF-8 read as Windows-1252."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode(WESTERN, errors="replace"), error.end


codecs.register_error("sluice-western", _western_bytes)
# UTF-8 text with a few bytes in another encoding (a Latin-1 comment pasted into a UTF-8
# page's script: "M\xe4scot") is UTF-8, as a browser reads it by its `charset`; detection
# named Windows-1252 for the whole and every "ü" became "Ã¼". It is taken for UTF-8 where its
# non-ASCII characters that are UTF-8 outnumber the bytes that are not by this much; text in
# a code page is hardly ever UTF-8 by chance ("Ã©" is mojibake already).
_MOSTLY_UTF8 = 10


def mostly_utf8(data: bytes) -> str | None:
    """`data` decoded as UTF-8, bytes that are not UTF-8 read as Windows-1252, where it is
    mostly UTF-8 (see _MOSTLY_UTF8); else None. Data with NULs is not taken (UTF-16/32)."""
    if data.isascii() or b"\x00" in data:
        return None
    lenient = data.decode("utf-8", errors="replace")
    marks = lenient.count("\ufffd")
    stray = marks - data.count("\ufffd".encode())
    # the bytes UTF-8 spends beyond one per character, the marks' aside: at least one for
    # each non-ASCII character it decoded (a count without a loop over the characters)
    utf8 = len(lenient.encode("utf-8")) - len(lenient) - 2 * marks
    if stray < 1 or utf8 < _MOSTLY_UTF8 * stray:
        return None
    return data.decode("utf-8", errors="sluice-western")


def legacy_codec(data: bytes) -> str:
    """The codec of 8-bit text kept by an old Office format (Word 6/95, PowerPoint 95) with no
    code page named: detected from its bytes, else Windows-1252, what such text almost
    always is."""
    return detect_encoding(telling_sample(data)) or WESTERN


def detect_encoding(sample: bytes) -> str | None:
    """Return the codec that decodes `sample` into readable text, or None for binary data.

    `sample` must not end inside a character (see `sample_of`).
    """
    bom = bom_encoding(sample)
    if bom is not None:
        return bom
    try:
        text: str | None = sample.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    # NULs mean UTF-16 (or binary); ESC may start a 7-bit ISO-2022 text (Japanese mail).
    if text is not None and "\x00" not in text and "\x1b" not in text:
        return "utf-8"
    # chardet 7 over charset-normalizer: on chardet's own test files and on windows of them
    # re-encoded in a sibling code page, charset-normalizer (with a Windows-1252 tie-break)
    # misread 28 of 424 files and 74 of 498 windows (Hungarian, Czech, Polish, Turkish read
    # as Windows-1252 or the wrong Latin-2) and did not know ISO-2022-JP; chardet with the
    # tie-break below misread 1 and 22 (chardet/chardet tests/ at 1355907). Subset names
    # stay (no prefer_superset): it would read ISO-8859-2 as Windows-1250 (š, ž, ą differ).
    guesses = chardet.detect_all(
        sample, max_bytes=max(1, len(sample)), compat_names=False, exclude_encodings=_RARE
    )
    best = guesses[0]["encoding"] if guesses else None
    if best is None or best == "ascii":
        # chardet calls any control byte binary; valid UTF-8 with a stray NUL or a terminal's
        # colour escapes still is text if few enough (the callers check unreadable_share).
        return None if text is None else "utf-8"
    western = next((g for g in guesses if g["encoding"] == WESTERN), None)
    if western is not None and western["confidence"] >= guesses[0]["confidence"] * _WESTERN_SHARE:
        return WESTERN
    return codecs.lookup(best).name
