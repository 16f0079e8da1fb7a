"""Unit tests of the embedding providers: the local MiniLM model and the hashing benchmark."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from services.common.embedding.hashing import HashingEmbedder
from services.common.embedding.local_model import (
    LocalSentenceTransformer,
    ModelTokenizer,
    bundled_model_path,
    default_lanes,
    resolve_device,
    span_tokenizer,
    usable_cpus,
)
from services.common.embedding.ports import EmbeddingProvider
from services.embedder.core.chunking import chunk_text

pytestmark = pytest.mark.unit

SENTENCES = ["a cat sits on the mat", "a kitten rests on a rug", "quarterly tax filing deadline"]
MIXED_TEXT = "Hello, wörld!  Café au lait costs €3.50.\n\nSecond\tparagraph: naïve résumé…"


@pytest.fixture(scope="module")
def model() -> LocalSentenceTransformer:
    pytest.importorskip("sentence_transformers")
    return LocalSentenceTransformer(threads=2)


def cosine(left: list[float], right: list[float]) -> float:
    return sum(a * b for a, b in zip(left, right, strict=True))


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(value * value for value in vector))


def test_model_describes_itself(model: LocalSentenceTransformer) -> None:
    provider: EmbeddingProvider = model
    assert provider.model_name == "all-MiniLM-L6-v2"
    assert provider.dimensions == 384
    assert provider.max_tokens == 254


def test_model_embeds_similar_sentences_close_together(model: LocalSentenceTransformer) -> None:
    cat, kitten, tax = model.embed(SENTENCES)

    for vector in (cat, kitten, tax):
        assert len(vector) == 384
        assert all(isinstance(value, float) for value in vector)
        assert norm(vector) == pytest.approx(1.0, abs=1e-4)
    assert cosine(cat, kitten) > cosine(cat, tax)
    assert cosine(cat, kitten) > cosine(kitten, tax)


def test_model_embeds_nothing_for_no_texts(model: LocalSentenceTransformer) -> None:
    assert model.embed([]) == []


def test_model_tokenizer_spans_map_back_to_the_text(model: LocalSentenceTransformer) -> None:
    spans = model.tokenizer.token_spans(MIXED_TEXT)

    assert len(spans) > 10
    pieces = [MIXED_TEXT[start:end] for start, end in spans]
    assert all(piece and piece == piece.strip() for piece in pieces)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans))
    assert "".join(pieces) == "".join(MIXED_TEXT.split())


def test_model_tokenizer_slices_long_texts_without_changing_spans(
    model: LocalSentenceTransformer,
) -> None:
    """Same spans whether a text is tokenized whole or in many whitespace-cut slices."""
    text = (MIXED_TEXT + " ") * 40
    from transformers import AutoTokenizer

    backend = span_tokenizer(bundled_model_path())
    whole = ModelTokenizer(backend, slice_chars=len(text)).token_spans(text)
    sliced = ModelTokenizer(backend, slice_chars=64).token_spans(text)
    assert sliced == whole
    # the spans of the model's transformers tokenizer, which chunking used before: the same
    hf_tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    mapping = hf_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    assert whole == [(start, end) for start, end in mapping["offset_mapping"] if end > start]


def test_model_tokenizer_handles_a_megabyte(model: LocalSentenceTransformer) -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 23_000
    spans = model.tokenizer.token_spans(text)
    assert len(spans) == 10 * 23_000
    assert spans[-1][1] == len(text) - 1


def test_model_sized_chunks_fit_the_model(model: LocalSentenceTransformer) -> None:
    text = "\n\n".join(f"Paragraph {p}: " + "tokenization is fun. " * (p * 7) for p in range(12))
    chunks = chunk_text(text, model.tokenizer, max_tokens=model.max_tokens, overlap_tokens=32)
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.token_count <= model.max_tokens
        assert len(model.tokenizer.token_spans(chunk.text)) == chunk.token_count


def test_hashing_embedder_is_deterministic_and_unit_norm() -> None:
    texts = [*SENTENCES, "", "   "]
    first = HashingEmbedder().embed(texts)
    second = HashingEmbedder().embed(texts)

    assert first == second
    for vector in first:
        assert len(vector) == 384
        assert norm(vector) == pytest.approx(1.0)


def test_hashing_embedder_is_labelled_as_benchmark_only() -> None:
    provider: EmbeddingProvider = HashingEmbedder()
    assert provider.model_name == "bench-hashing-384"
    assert provider.dimensions == 384
    assert provider.tokenizer.token_spans("two words") == [(0, 3), (4, 9)]


def test_hashing_embedder_ranks_shared_words_higher() -> None:
    base, close, far = HashingEmbedder().embed(
        ["kafka topic partition offset", "kafka topic partition lag", "sourdough bread recipe"]
    )
    assert cosine(base, close) > cosine(base, far)


def test_model_lanes_embed_side_by_side_as_encode_does(model: LocalSentenceTransformer) -> None:
    """`embed` from several threads at once gives what one `encode` gives, in input order."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"{s} number {i} " * (1 + i % 7) for i, s in enumerate(SENTENCES * 12)]
    expected = model._model.encode(texts, batch_size=32, normalize_embeddings=True).tolist()

    with ThreadPoolExecutor(3) as lanes:
        parts = list(lanes.map(model.embed, [texts[i : i + 5] for i in range(0, len(texts), 5)]))

    got = [vector for part in parts for vector in part]
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == pytest.approx(theirs, abs=1e-5)


def test_the_device_follows_what_torch_sees() -> None:
    import torch

    gpu = torch.cuda.is_available()
    assert resolve_device("auto") == ("cuda" if gpu else "cpu")
    assert resolve_device("cpu") == "cpu"
    if not gpu:  # asking for a GPU that is not there fails at start, naming the GPU
        with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown embedding device 'gpu'"):
        resolve_device("gpu")


def test_a_gpu_runs_one_lane_the_cpu_one_per_core() -> None:
    assert default_lanes(1, "cuda") == 1
    assert default_lanes(1, "cpu") == max(1, min(4, usable_cpus()))
