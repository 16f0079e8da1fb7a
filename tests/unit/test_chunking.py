"""Unit tests of the embedder's token-aware chunker."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from services.common.embedding.tokenizing import WhitespaceTokenizer
from services.embedder.core.chunking import MAX_TOKEN_CHARS, Chunk, chunk_text
from tests.fixtures.cases import Case, case_ids

pytestmark = pytest.mark.unit

WORDS = WhitespaceTokenizer()
CHUNK_CHARS = 64  # the most characters a chunk holds per token of its budget


class CharTokenizer:
    """Every non-space character is a token, so cuts inside words can be tested."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [(i, i + 1) for i, char in enumerate(text) if not char.isspace()]


@dataclass(frozen=True)
class Given:
    text: str
    max_tokens: int = 256
    overlap_tokens: int = 32


Row = Case[Given, list[str]]


def words(count: int, start: int = 0) -> str:
    return " ".join(f"w{i}" for i in range(start, start + count))


CASES: list[Row] = [
    Case("empty text gives no chunks", Given(""), []),
    Case("whitespace-only text gives no chunks", Given("  \n\n\t "), []),
    Case("short text is one chunk", Given("Hello world."), ["Hello world."]),
    Case(
        "surrounding whitespace is outside the chunk",
        Given("\n\n  Hello world.  \n"),
        ["Hello world."],
    ),
    Case(
        "consecutive chunks overlap by overlap_tokens",
        Given(words(20), max_tokens=10, overlap_tokens=4),
        [words(10), words(10, start=6), words(8, start=12)],
    ),
    Case(
        "no overlap when overlap_tokens is 0",
        Given(words(20), max_tokens=10, overlap_tokens=0),
        [words(10), words(10, start=10)],
    ),
] + [
    # Boundary rules, kept as data: one row per rule (tests/unit/chunking_cases.json).
    Case(
        row["description"],
        Given(row["text"], row["max_tokens"], row["overlap_tokens"]),
        row["expected"],
    )
    for row in json.loads((Path(__file__).parent / "chunking_cases.json").read_text())
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_chunk_texts(case: Row) -> None:
    given = case.given
    chunks = chunk_text(
        given.text, WORDS, max_tokens=given.max_tokens, overlap_tokens=given.overlap_tokens
    )
    assert [chunk.text for chunk in chunks] == case.expected
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))


def test_a_word_longer_than_the_budget_is_cut_between_tokens() -> None:
    chunks = chunk_text("abcdefghij", CharTokenizer(), max_tokens=4, overlap_tokens=0)
    assert [chunk.text for chunk in chunks] == ["abcd", "efgh", "ij"]


@pytest.mark.parametrize(
    "text",
    [
        "a" * 100_000,  # one "word": one token to a whitespace tokenizer (and [UNK] to WordPiece)
        "intro words. " + "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35" * 5_000 + " outro",  # Thai
    ],
    ids=["one letter", "thai without spaces"],
)
def test_a_run_without_spaces_is_cut_into_bounded_chunks(text: str) -> None:
    # Once, a 2 MB line without a space was one chunk of 2 MB, stored and returned by search.
    chunks = chunk_text(text, WORDS, max_tokens=256, overlap_tokens=32)
    assert len(chunks) > 1
    assert max(len(chunk.text) for chunk in chunks) <= 256 * CHUNK_CHARS
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert 0 < chunk.token_count <= 256
    assert (chunks[0].start, chunks[-1].end) == (0, len(text))
    for before, after in pairwise(chunks):
        assert before.start < after.start < before.end  # overlapping, no gap


@pytest.mark.parametrize("seed", range(40))
def test_whitespace_and_long_tokens_never_make_a_chunk_too_long(seed: int) -> None:
    # Deep indentation or empty cells put thousands of characters between two tokens; a chunk
    # of 256 such tokens once held most of a 5 MB document.
    rng = random.Random(seed)  # noqa: S311 - reproducible test input, not a secret
    pieces = []
    for _ in range(rng.randrange(1, 400)):
        word = rng.choice(["w", "word", "x" * rng.randrange(1, 300)])
        gap = rng.choice([" ", "\n\n", " " * rng.randrange(1, 12_000), "\t" * rng.randrange(1, 50)])
        pieces.append(word + gap)
    text = "".join(pieces)
    max_tokens, overlap = rng.choice([(256, 32), (8, 3), (20, 0), (2, 1)])
    chunks = chunk_text(text, WORDS, max_tokens=max_tokens, overlap_tokens=overlap)
    spans = WORDS.token_spans(text)
    assert (chunks[0].start, chunks[-1].end) == (spans[0][0], spans[-1][1])
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= max_tokens * CHUNK_CHARS
        assert 0 < chunk.token_count <= max_tokens
    for before, after in pairwise(chunks):
        assert before.end < after.end and before.start < after.start
        assert not text[before.end : after.start].strip()  # nothing left out between them


def test_chunks_cut_short_by_whitespace_share_at_most_half_of_themselves() -> None:
    # 2,000 tokens 1,001 characters apart: 17 fit in a chunk's 16,384 characters. Sharing
    # the usual 32 tokens, each next chunk would move on by one token (~2,000 chunks).
    text = ("x" + " " * 1000) * 2000
    chunks = chunk_text(text, WORDS, max_tokens=256, overlap_tokens=32)
    assert {chunk.token_count for chunk in chunks[:-1]} == {17}
    assert len(chunks) <= 2 * 2000 // 16 + 1
    for before, after in pairwise(chunks):
        assert before.start < after.start < before.end  # still overlapping


def test_tokens_no_longer_than_the_bound_are_not_cut() -> None:
    text = " ".join(["x" * MAX_TOKEN_CHARS] * 10)
    chunks = chunk_text(text, WORDS, max_tokens=4, overlap_tokens=0)
    assert [chunk.token_count for chunk in chunks] == [4, 4, 2]
    assert all(chunk.text.count(" ") == chunk.token_count - 1 for chunk in chunks)


PROSE = "\n\n".join(
    " ".join(
        f"Sentence {p}.{s} has some words in it, like {'word ' * (s % 7)}and more."
        for s in range(1 + p % 9)
    )
    for p in range(60)
)

PROPERTY_CASES: list[Row] = [
    Case("prose, default budget", Given(PROSE), []),
    Case("prose, small budget", Given(PROSE, max_tokens=20, overlap_tokens=5), []),
    Case("prose, overlap near budget", Given(PROSE, max_tokens=12, overlap_tokens=11), []),
    Case("prose, no overlap", Given(PROSE, max_tokens=50, overlap_tokens=0), []),
    Case("tabs, CRLF and non-ASCII", Given("Ça va?\r\n\tÜber\u00a0alles. " * 80, 16, 4), []),
]


@pytest.mark.parametrize("case", PROPERTY_CASES, ids=case_ids(PROPERTY_CASES))
def test_chunks_stay_in_budget_cover_the_text_and_map_back(case: Row) -> None:
    given = case.given
    spans = WORDS.token_spans(given.text)
    chunks = chunk_text(
        given.text, WORDS, max_tokens=given.max_tokens, overlap_tokens=given.overlap_tokens
    )

    assert len(chunks) > 1
    for chunk in chunks:
        assert given.text[chunk.start : chunk.end] == chunk.text
        assert 0 < chunk.token_count <= given.max_tokens
        assert chunk.token_count == len(WORDS.token_spans(chunk.text))
    assert chunks[0].start == spans[0][0]
    assert chunks[-1].end == spans[-1][1]
    for before, after in pairwise(chunks):
        assert before.end < after.end
        if given.overlap_tokens == 0:
            assert after.start >= before.end
        else:
            assert before.start < after.start < before.end
            shared = len(WORDS.token_spans(given.text[after.start : before.end]))
            assert given.overlap_tokens // 2 <= shared <= given.overlap_tokens


def test_chunking_is_deterministic() -> None:
    first = chunk_text(PROSE, WORDS, max_tokens=30, overlap_tokens=6)
    second = chunk_text(PROSE, WhitespaceTokenizer(), max_tokens=30, overlap_tokens=6)
    assert first == second
    assert all(isinstance(chunk, Chunk) for chunk in first)


BAD_ARGUMENTS: list[Row] = [
    Case("max_tokens zero", Given("a b", max_tokens=0, overlap_tokens=0), ["max_tokens"]),
    Case("max_tokens negative", Given("a b", max_tokens=-3, overlap_tokens=0), ["max_tokens"]),
    Case("overlap equals max", Given("a b", max_tokens=8, overlap_tokens=8), ["overlap_tokens"]),
    Case("overlap above max", Given("a b", max_tokens=8, overlap_tokens=9), ["overlap_tokens"]),
    Case("overlap negative", Given("a b", max_tokens=8, overlap_tokens=-1), ["overlap_tokens"]),
    Case("checked even for empty text", Given("", max_tokens=0), ["max_tokens"]),
]


@pytest.mark.parametrize("case", BAD_ARGUMENTS, ids=case_ids(BAD_ARGUMENTS))
def test_bad_arguments_are_rejected(case: Row) -> None:
    given = case.given
    with pytest.raises(ValueError, match=case.expected[0]):
        chunk_text(
            given.text, WORDS, max_tokens=given.max_tokens, overlap_tokens=given.overlap_tokens
        )
