"""Unit tests of the embedder's pure batching: pending documents, model calls, rounds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from schemas.events import BlobRef, DocumentParsed, now
from services.embedder.core.batch import PendingDocument, model_calls, rounds
from services.embedder.core.calls import plan_calls
from services.embedder.core.chunking import Chunk

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Case:
    description: str
    given: Any
    expected: Any


def parsed(document_id: str = "") -> DocumentParsed:
    return DocumentParsed(
        event_id=uuid.uuid4().hex,
        occurred_at=now(),
        tenant_id="t",
        job_id=uuid.uuid4().hex,
        document_id=document_id or uuid.uuid4().hex,
        text=BlobRef(sha256="0" * 64, size=1, media_type="text/plain"),
    )


def pending(*token_counts: int) -> PendingDocument:
    """A document whose chunks have these token counts."""
    chunks = [Chunk(i, f"c{i}", 0, 0, count) for i, count in enumerate(token_counts)]
    return PendingDocument(parsed(), chunks, None)


# given: (chunk count, chunk indexes put in order); expected: what each put returned
PUT_CASES = [
    Case("one chunk: its vector finishes the document", (1, [0]), [True]),
    Case("two chunks, put out of order: the second put finishes", (2, [1, 0]), [False, True]),
    Case("a chunk put twice counts once", (2, [0, 0, 1]), [False, False, True]),
    Case("a chunk put again after the last: still finished", (2, [0, 1, 1]), [False, True, True]),
]


@pytest.mark.parametrize("case", PUT_CASES, ids=[c.description for c in PUT_CASES])
def test_put_says_when_the_last_missing_vector_arrives(case: Case) -> None:
    count, puts = case.given
    doc = pending(*[1] * count)

    returned = [doc.put(i, [float(i), float(n)]) for n, i in enumerate(puts)]

    assert returned == case.expected
    assert doc.done is case.expected[-1]


def test_embedded_gives_the_vectors_in_chunk_order_whatever_order_they_came_in() -> None:
    doc = pending(3, 2, 1)
    for i in (2, 0, 1):
        doc.put(i, [float(i)])

    assert doc.embedded() == [[0.0], [1.0], [2.0]]


# given: chunk count, whether the provider refused it; expected: done before any vector
DONE_CASES = [
    Case("a document without chunks is done at once", (0, False), True),
    Case("a document with chunks waits for their vectors", (3, False), False),
    Case("a refused document is done, vectors or not", (3, True), True),
]


@pytest.mark.parametrize("case", DONE_CASES, ids=[c.description for c in DONE_CASES])
def test_done_without_vectors(case: Case) -> None:
    count, refused = case.given
    doc = pending(*[1] * count)
    if refused:
        doc.refused = ValueError("refused")

    assert doc.done is case.expected


def test_pending_documents_are_told_apart_by_identity() -> None:
    event = parsed("doc-1")
    first, second = PendingDocument(event, [], None), PendingDocument(event, [], None)

    assert len({first: 1, second: 2}) == 2


# given: (token counts of each document's chunks, size, lanes);
# expected: each call as (document number, chunk index)
CALL_CASES = [
    Case("no documents: no calls", ([], 4, 1), []),
    Case("documents without chunks: no calls", ([[], []], 4, 1), []),
    Case(
        "chunks of every document share a call, longest first",
        ([[3, 8], [5]], 8, 1),
        [[(0, 1), (1, 0), (0, 0)]],
    ),
    Case(
        "chunks of equal length keep batch order",
        ([[2], [2, 2]], 8, 1),
        [[(0, 0), (1, 0), (1, 1)]],
    ),
    Case(
        "a call holds at most `size` chunks, sizes within one",
        ([[4, 3, 2]], 2, 1),
        [[(0, 0), (0, 1)], [(0, 2)]],
    ),
    Case(
        "one call's worth is cut in two so both lanes work",
        ([[5, 4], [3, 2]], 4, 2),
        [[(0, 0), (0, 1)], [(1, 0), (1, 1)]],
    ),
    Case(
        "a document without chunks between others is passed over",
        ([[1], [], [9]], 4, 1),
        [[(2, 0), (0, 0)]],
    ),
]


@pytest.mark.parametrize("case", CALL_CASES, ids=[c.description for c in CALL_CASES])
def test_model_calls(case: Case) -> None:
    counts, size, lanes = case.given
    documents = [pending(*c) for c in counts]

    calls = model_calls(documents, size, lanes)

    assert [[(documents.index(doc), i) for doc, i in call] for call in calls] == case.expected


# given: the document id of each item of a batch (items are named <document><n>);
# expected: the rounds
ROUND_CASES = [
    Case("an empty batch: no rounds", [], []),
    Case("distinct documents: one round in batch order", ["a1", "b1", "c1"], [["a1", "b1", "c1"]]),
    Case(
        "a document's second event goes to the next round",
        ["a1", "b1", "a2", "c1"],
        [["a1", "b1", "c1"], ["a2"]],
    ),
    Case(
        "three events of one document: three rounds, in order",
        ["a1", "a2", "b1", "a3", "b2"],
        [["a1", "b1"], ["a2", "b2"], ["a3"]],
    ),
]


@pytest.mark.parametrize("case", ROUND_CASES, ids=[c.description for c in ROUND_CASES])
def test_rounds_never_hold_one_document_twice(case: Case) -> None:
    assert rounds(case.given, lambda item: item[0]) == case.expected


# given: (texts, size, lanes); expected: the number of texts in each call
PLAN_CASES = [
    Case("no texts: no calls", (0, 32, 2), []),
    Case("never more calls than texts", (1, 32, 2), [1]),
    Case("fewer texts than lanes: one text a call", (3, 32, 4), [1, 1, 1]),
    Case("exactly one call's worth", (32, 32, 1), [32]),
    Case("one text over: two calls of like size", (33, 32, 1), [17, 16]),
    Case("5 calls of 32 would leave a lane idle: 6 calls", (160, 32, 2), [27, 27, 27, 27, 26, 26]),
    Case("two full calls on two lanes", (64, 32, 2), [32, 32]),
]


@pytest.mark.parametrize("case", PLAN_CASES, ids=[c.description for c in PLAN_CASES])
def test_plan_calls_sizes(case: Case) -> None:
    count, size, lanes = case.given
    lengths = [(i * 37) % 101 for i in range(count)]

    calls = plan_calls(lengths, size, lanes)

    assert [len(call) for call in calls] == case.expected
    flat = [i for call in calls for i in call]
    assert sorted(flat) == list(range(count))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
