"""Markdown to readable plain text, with headings collected."""

from __future__ import annotations

import re

from services.parser.core.parsed import ParsedText

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+.*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_EMPHASIS = re.compile(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_HTML_TAG = re.compile(r"</?[A-Za-z][^>\n]*>")
_BLOCKQUOTE = re.compile(r"^ {0,3}> ?")
_HRULE = re.compile(r"^ {0,3}([-*_])( *\1){2,} *$")


def clean_inline(line: str) -> str:
    """Drop inline Markdown markup and keep the words a reader sees (code spans verbatim)."""
    out: list[str] = []
    start = 0
    for span in _CODE_SPAN.finditer(line):
        out.append(_clean_prose(line[start : span.start()]))
        out.append(span.group(2).strip())
        start = span.end()
    out.append(_clean_prose(line[start:]))
    return "".join(out)


def _clean_prose(text: str) -> str:
    """Drop images, link targets, emphasis markers and inline HTML tags."""
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    return _HTML_TAG.sub("", text)


def extract_markdown(text: str) -> ParsedText:
    """Turn Markdown into plain text; title is the first H1, sections are all headings."""
    out: list[str] = []
    sections: list[str] = []
    title: str | None = None
    in_fence = False
    for raw in text.splitlines():
        if _FENCE.match(raw):
            in_fence = not in_fence
            continue
        if in_fence:
            out.append(raw)
            continue
        heading = _heading(raw, out)
        if heading is not None:
            level, words = heading
            if words:
                sections.append(words)
                if level == 1 and title is None:
                    title = words
                out.append(words)
            continue
        if _REFERENCE_DEF.match(raw) or _HRULE.match(raw):
            out.append("")
            continue
        out.append(clean_inline(_BLOCKQUOTE.sub("", raw)))
    return ParsedText(text="\n".join(out), title=title, sections=sections)


def _heading(line: str, out: list[str]) -> tuple[int, str] | None:
    """Return (level, text) for an ATX heading or a setext underline (which consumes `out[-1]`)."""
    atx = _ATX_HEADING.match(line)
    if atx:
        return len(atx.group(1)), clean_inline(atx.group(2)).strip()
    underline = _SETEXT_UNDERLINE.match(line)
    if underline and out and out[-1].strip() and (not _HRULE.match(line) or "=" in line):
        previous = out.pop().strip()
        return (1 if underline.group(1)[0] == "=" else 2), previous
    return None
