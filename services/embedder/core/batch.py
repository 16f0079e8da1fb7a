"""A batch on its way through the model: each document's vectors, the model calls, the rounds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from schemas.events import DocumentParsed
from services.embedder.core.calls import plan_calls
from services.embedder.core.chunking import Chunk

T = TypeVar("T")
Target = TypeVar("Target")


class PendingDocument(Generic[Target]):
    """One document of a batch on its way through the model: its chunks and their vectors,
    and where they go (`target`, the stage's business).

    Compared and hashed by identity: two events for one document are two pending documents.
    """

    def __init__(self, event: DocumentParsed, chunks: list[Chunk], target: Target) -> None:
        self.event = event
        self.chunks = chunks
        self.target = target
        self.vectors: list[list[float] | None] = [None] * len(chunks)
        self.left = len(chunks)
        self.refused: ValueError | None = None

    @property
    def done(self) -> bool:
        """Every chunk has its vector, or the provider refused the document."""
        return self.left == 0 or self.refused is not None

    def put(self, index: int, vector: list[float]) -> bool:
        """Keep the vector of chunk `index`; True when that was the last one missing."""
        if self.vectors[index] is None:
            self.left -= 1
        self.vectors[index] = vector
        return self.left == 0

    def embedded(self) -> list[list[float]]:
        """The vectors in chunk order (all present)."""
        return [v for v in self.vectors if v is not None]


def model_calls(
    documents: Sequence[PendingDocument[Target]], size: int, lanes: int
) -> list[list[tuple[PendingDocument[Target], int]]]:
    """Every chunk as `(document, index)`, cut into model calls by `plan_calls`."""
    chunks = [(doc, i) for doc in documents for i in range(len(doc.chunks))]
    counts = [doc.chunks[i].token_count for doc, i in chunks]
    return [[chunks[k] for k in call] for call in plan_calls(counts, size, lanes)]


def rounds(items: Sequence[T], document_id: Callable[[T], str]) -> list[list[T]]:
    """Split a batch so that no document appears twice in a round, keeping their order.

    Documents finish in the order the model reaches their chunks, not in batch order, so two
    events for one document (a reprocess behind the original) go in successive rounds: the
    later one is stored last and wins.
    """
    result: list[list[T]] = []
    seen: dict[str, int] = {}
    for item in items:
        key = document_id(item)
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(result):
            result.append([])
        result[n].append(item)
    return result
