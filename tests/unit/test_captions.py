"""Transcripts and subtitles to text (services/parser/core/captions.py): WebVTT and SubRip
read as what is said, turn by turn, without cue numbers, timings and styling; recognised at
upload by their first lines (services/common/media.py). A real meeting transcript (docling's)
is in the corpus."""

from __future__ import annotations

import pytest

from services.common.media import PLAIN, SBV, SRT, VTT, sniff_media_type
from services.parser.core.captions import PARAGRAPH_CHARS
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from tests.fixtures.corpus import corpus_file

pytestmark = pytest.mark.unit

SUBRIP = (
    b"1\r\n00:00:01,000 --> 00:00:03,500\r\n<i>The river rose</i>\r\novernight.\r\n\r\n"
    b"2\r\n00:00:04,000 --> 00:00:06,000\r\novernight.\r\nThe gates held.\r\n\r\n"
)


def test_a_meeting_transcript_reads_turn_by_turn() -> None:
    data = corpus_file("docling/webvtt_example_03.vtt").read()
    assert sniff_media_type(data, "meeting.vtt") == VTT
    paragraphs = extract(data, VTT).text.split("\n\n")
    assert paragraphs[:3] == [
        "Speaker A: OK, I think now we should be recording properly.",
        "Good.",
        "Speaker A: Yeah.",
    ]
    assert "-->" not in "".join(paragraphs)


def test_subrip_reads_as_running_words_once() -> None:
    # The second cue repeats the first one's last line, as rolling captions do.
    assert sniff_media_type(SUBRIP, "film.srt") == SRT
    assert extract(SUBRIP, SRT).text == "The river rose overnight. The gates held."


def test_youtube_subviewer_captions_read_as_running_words() -> None:
    # YouTube's .sbv download (webvtt-py's tests/subtitles/sample.sbv): read as plain text,
    # its "0:00:00.378,0:00:11.378" timings were indexed between the words.
    data = (
        b"0:00:00.378,0:00:11.378\nThe river rose\n\n"
        b"0:00:11.378,0:00:12.305\novernight.\nThe gates held.\n\n"
    )
    assert sniff_media_type(data, "talk.sbv") == SBV
    assert extract(data, SBV).text == "The river rose overnight. The gates held."


def test_text_that_only_starts_like_a_timing_is_plain_text() -> None:
    assert sniff_media_type(b"0:00:00.378,0:00:11.378 were the times we ran.\n", "x") == PLAIN


def test_a_subviewer_file_without_one_readable_cue_is_a_named_failure() -> None:
    with pytest.raises(ParseError) as failure:
        extract(b"0:00:00.378,0:00:11.378\n\n", SBV)
    assert failure.value.code in {"corrupt_file", "no_text"}


def test_a_long_turn_breaks_at_a_sentence_end() -> None:
    sentence = "The level at the weir is rising again today."
    cues = "".join(
        f"00:00:{n:02d}.000 --> 00:00:{n:02d}.500\n<v Ana>{n}: {sentence}\n\n" for n in range(40)
    )
    text = extract(f"WEBVTT\n\n{cues}".encode(), VTT).text
    turns = text.split("\n\n")
    assert len(turns) == 2
    assert all(turn.startswith("Ana: ") and turn.endswith(".") for turn in turns)
    assert len(turns[0]) > PARAGRAPH_CHARS


def test_a_cue_with_a_broken_timing_is_left_out_and_no_cue_is_no_text() -> None:
    broken = b"WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n\n00:0x.000 --> 00:03.000\nThere\n"
    assert extract(broken, VTT).text == "Hi"
    with pytest.raises(ParseError) as caught:
        extract(b"WEBVTT\n\nNOTE only a note\n", VTT)
    assert caught.value.code == "no_text"
