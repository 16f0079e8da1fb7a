"""Transcripts and subtitles (WebVTT `.vtt`, SubRip `.srt`, YouTube's SubViewer `.sbv`) to
text with webvtt-py: what is said, not the cue numbers, timings and styling that surround it.

Read as plain text, a meeting's transcript was indexed as "00:00:13.000 --> 00:00:16.000"
lines between fragments of sentences. Here the cues' words run on as the speech does: one
paragraph per speaker's turn, named when the file names its speakers (WebVTT's `<v Name>`),
and a new paragraph at a sentence's end past PARAGRAPH_CHARS. Rolling captions (each cue
repeating the line before) keep each line once.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import unreadable
from services.parser.core.parsed import ParsedText
from services.parser.core.text import decode_text

PARAGRAPH_CHARS = 1_000  # a speaker's turn longer than this breaks at a sentence's end
# full stop, question and exclamation marks, ellipsis; the CJK ones
_SENTENCE_ENDS = (".", "?", "!", "\u2026", "\u3002", "\uff1f", "\uff01")
_CLOSING = "\"')]\u201d\u2019"  # quotes and brackets a sentence may end inside
_FIX = "check that it is a WebVTT, SubRip or SubViewer file and upload again"


def extract_webvtt(data: bytes) -> ParsedText:
    """A WebVTT file's spoken words, turn by turn."""
    return _extract(data, "vtt", "the WebVTT file")


def extract_subrip(data: bytes) -> ParsedText:
    """A SubRip file's spoken words, as paragraphs."""
    return _extract(data, "srt", "the SubRip file")


def extract_subviewer(data: bytes) -> ParsedText:
    """A SubViewer file's (YouTube's `.sbv`) spoken words, as paragraphs."""
    return _extract(data, "sbv", "the SubViewer file")


def _extract(data: bytes, kind: str, what: str) -> ParsedText:
    text = decode_text(data).lstrip("\ufeff")
    try:
        captions = webvtt.from_buffer(io.StringIO(text), format=kind).captions
    except (MalformedFileError, MalformedCaptionError, ValueError) as exc:
        raise unreadable(what, exc, _FIX) from exc
    builder = TextBuilder()
    for speaker, words in _turns((caption.voice, caption.text) for caption in captions):
        if builder.full:
            break
        builder.add(f"{speaker}: {words}" if speaker else words)
    return builder.build()


def _turns(cues: Iterator[tuple[str | None, str]]) -> Iterator[tuple[str | None, str]]:
    """Each speaker's turn as one run of words: (speaker, words), a turn past
    PARAGRAPH_CHARS cut after a sentence's end."""
    speaker: str | None = None
    words: list[str] = []
    size = 0
    last_line = ""
    for voice, text in cues:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines and lines[0] == last_line:
            lines = lines[1:]  # a rolling caption: its first line is the last cue's last
        if not lines:
            continue
        last_line = lines[-1]
        if words and (voice != speaker or (size > PARAGRAPH_CHARS and _ends_sentence(words))):
            yield speaker, " ".join(words)
            words, size = [], 0
        speaker = voice
        words.extend(lines)
        size += sum(len(line) + 1 for line in lines)
    if words:
        yield speaker, " ".join(words)


def _ends_sentence(words: list[str]) -> bool:
    """Whether the words so far end a sentence."""
    return words[-1].rstrip(_CLOSING).endswith(_SENTENCE_ENDS)
