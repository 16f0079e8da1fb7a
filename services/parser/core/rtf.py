"""Rich Text Format (`.rtf`) to text with striprtf.

RTF is 7-bit text with control words; the document's characters are escapes (`\\'e9` in its
code page, `\\u8364` in Unicode) that striprtf decodes by the `\\ansicpg` and font charsets.
Some writers put raw 8-bit bytes in instead: those are read in the document's code page too.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Callable

from striprtf import striprtf

from services.common.encoding import WESTERN
from services.parser.core.builder import TextBuilder
from services.parser.core.errors import ParseError, unreadable
from services.parser.core.parsed import ParsedText
from services.parser.core.text import MAX_SOURCE_CHARS, title_of

_CODE_PAGE = re.compile(rb"\\ansicpg(\d{1,5})")
_CODE_PAGE_WORD = re.compile(r"\\ansicpg\d{1,5}")
_HEADER_BYTES = 4096  # where the header's \ansicpg is
# Groups striprtf skips whose words a reader sees: a section's headers and footers, notes.
_SHOWN_DESTINATION = re.compile(r"\\(?:header|footer)[lrf]?(?![a-z])|\\footnote(?![a-z])")
_STRAY_STAR = re.compile(r"(?<![{\\])\\\*")  # `\*` only means something right after `{`
# `\bin` must give its byte count; without one (pandoc's tests hold such a picture) striprtf
# raised on int(""). Read as `\bin0`: the picture's group is skipped to its end as usual.
_BIN_WITHOUT_LENGTH = re.compile(r"\\bin(?![a-zA-Z0-9-])")
# The document's title in its `\info` group (escapes in it decoded as the body's are).
_TITLE = re.compile(r"\{\\title(?![a-zA-Z]) ?([^{}]{1,2000})\}")
_TITLES_TRIED = 3
# The Mac code pages of CJK script (TextEdit writes `\mac\ansicpg10001` and its fonts'
# `\fcharset78`): striprtf names codecs Python lacks ("mac_japanese"), and such a document
# failed whole (rtfparserkit's test10001Encoding.rtf). Each is read in the Windows code page
# of its script, a superset of the same national standard (Shift_JIS, Big5, KS X 1001,
# GB 2312); the Mac code pages striprtf names that Python has another name for, by that one.
_MAC_CODE_PAGES = {10001: "cp932", 10002: "cp950", 10003: "cp949", 10008: "cp936"}
_MAC_CODECS = {
    "mac_japanese": "cp932",
    "mac_chinesetrad": "cp950",
    "mac_korean": "cp949",
    "mac_chinesesimp": "cp936",
    "mac_rumanian": "mac_romanian",
    "mac_ce": "mac_latin2",
    "mac_ukrainian": "mac_cyrillic",
}


def _mac_codec(name: str) -> codecs.CodecInfo | None:
    """A codec search function: striprtf's names for Mac code pages Python lacks."""
    return codecs.lookup(_MAC_CODECS[name]) if name in _MAC_CODECS else None


codecs.register(_mac_codec)
# (text, encoding, errors) -> text; striprtf has no type hints.
_rtf_to_text: Callable[[str, str, str], str] = striprtf.rtf_to_text


def extract_rtf(data: bytes) -> ParsedText:
    """The document's text, paragraphs on their own lines; pictures and objects left out."""
    code_page = _code_page(data)
    source = data[:MAX_SOURCE_CHARS].decode(code_page, errors="replace")
    # striprtf reads \ansicpg itself and turns to UTF-8 on one Python lacks: name ours.
    source = _CODE_PAGE_WORD.sub(lambda _: f"\\ansicpg{code_page[2:]}", source)
    source = _readable(source)
    try:
        text = _rtf_to_text(source, code_page, "replace")
    except (ParseError, MemoryError):
        raise
    except Exception as exc:  # striprtf on a broken file: say so, with its reason
        fix = "save it again from the word processor (as .docx or .rtf) and upload again"
        raise unreadable("the RTF", exc, fix) from exc
    builder = TextBuilder()
    builder.add(text)
    return builder.build(title=_title(source, code_page))


def _title(source: str, code_page: str) -> str | None:
    """The `\\info` group's title, decoded, on one line; None without one. A title of only
    question marks (a writer's stand-in for characters its code page lacks, before the real
    title in Unicode escapes: Tika's testRTFJapanese.rtf) is passed over."""
    for found in itertools.islice(_TITLE.finditer(source), _TITLES_TRIED):
        try:
            title = title_of(_rtf_to_text(f"{{\\rtf1 {found.group(1)}}}", code_page, "replace"))
        except Exception:  # noqa: BLE001, S112 (striprtf on a broken title: try the next)
            continue
        if title is not None and any(character.isalnum() for character in title):
            return title
    return None


def _readable(source: str) -> str:
    """The source with what striprtf drops but a reader sees made plain text: headers,
    footers and footnotes (striprtf skips those groups; a letter whose words were all in its
    header came out empty), each from a new paragraph where it stands; and a `\\*` that
    does not open its group (there it marks nothing, but striprtf skipped the rest of the
    group, words and all)."""
    source = _SHOWN_DESTINATION.sub(r"\\par ", source)
    source = _BIN_WITHOUT_LENGTH.sub(r"\\bin0", source)
    return _STRAY_STAR.sub("", source)


def _code_page(data: bytes) -> str:
    """The code page the header names (`\\ansicpg1251`), if Python has it; else Windows-1252."""
    found = _CODE_PAGE.search(data[:_HEADER_BYTES])
    if found is None:
        return WESTERN
    number = int(found.group(1))
    name = _MAC_CODE_PAGES.get(number, f"cp{number}")
    try:
        codecs.lookup(name)
    except LookupError:
        return WESTERN
    return name
