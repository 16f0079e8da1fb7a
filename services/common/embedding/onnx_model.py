"""all-MiniLM-L6-v2 on ONNX Runtime: onnxruntime, `tokenizers` and numpy, never torch.

The packaged weights are exported to ONNX once (`services.common.embedding.onnx_export`, run in
a process of its own, the one step that needs torch) into a cache folder, the graph in
`<name>.onnx` and the weights beside it in `<name>.onnx.data` (mapped, not copied, by ONNX
Runtime), and reused by every later start; an export ONNX Runtime cannot load (either file
damaged or missing) is exported again. The pipeline after the
transformer is the model's own sentence-transformers one (modules.json): mean pooling over the
attention mask, then L2 normalisation.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
from tokenizers import Tokenizer as Backend

from services.common.embedding.local_model import (
    DEFAULT_BATCH_SIZE,
    MODEL_NAME,
    ModelTokenizer,
    bundled_model_path,
    embed_by_length,
    plan_lanes,
    span_tokenizer,
)
from services.common.embedding.ports import Tokenizer

log = logging.getLogger(__name__)

EXPORT_FORMAT = 2  # bump when the exported graph changes: older cached files are not reused
PASS_TOKENS = 512
"""Padded tokens one ONNX Runtime run computes on (at least one text): a call's texts run in
passes of about this size, longest first. Measured on 2 cores (docs/benchmarks.md, "Smaller
passes"): 32 texts of 256 tokens in one run were ~20 % slower than passes of 256-1,024 tokens,
and held 3x the memory (attention's scores grow with texts x tokens^2)."""
OUTPUT = "token_embeddings"
_UNLOADABLE = (
    ort_errors.InvalidProtobuf,
    ort_errors.InvalidGraph,
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.RuntimeException,  # the weights file missing
)
_REPO_ROOT = Path(__file__).resolve().parents[3]


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/sluice/models`, else `~/.cache/sluice/models`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sluice" / "models"


def cached_model_file(model_path: Path, cache_dir: Path) -> Path:
    """Where the export of the weights at `model_path` lies: named after the weights' and the
    config's content and the export format, so new weights or a new exporter export again (and
    a copied installation, an image layer, finds the export made at build time)."""
    key = hashlib.sha256(f"{EXPORT_FORMAT}".encode())
    for name in ("config.json", "model.safetensors"):
        with (model_path / name).open("rb") as file:
            key.update(hashlib.file_digest(file, "sha256").digest())
    return cache_dir / f"{MODEL_NAME}-{key.hexdigest()[:16]}.onnx"


def ensure_exported(model_path: Path, target: Path, *, stale: int | None = None) -> Path:
    """Export to `target` unless a file is there (or, with `stale`, unless it is a newer file
    than the one of that mtime_ns found unloadable); one exporter at a time per cache."""
    if target.is_file() and stale is None:
        return target  # no lock taken: the cache may lie on a read-only filesystem
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process exporting the same file: wait for it
        present = target.stat().st_mtime_ns if target.is_file() else None
        if present is not None and present != stale:
            return target
        log.info("exporting %s to ONNX at %s (once; needs torch)", MODEL_NAME, target)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_REPO_ROOT), os.getenv("PYTHONPATH")])),
        }
        done = subprocess.run(  # noqa: S603 - our own module, by the running interpreter
            [
                *(sys.executable, "-m", "services.common.embedding.onnx_export"),
                *("--out", str(target), "--force"),  # this lock holder decided to export
            ],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        if done.returncode != 0:
            raise OSError(
                f"exporting {MODEL_NAME} to ONNX failed (exit {done.returncode}): it needs torch,"
                " transformers and onnx once; run `python -m services.common.embedding.onnx_export"
                f" --cache-dir {target.parent}` where they are installed, or use"
                f" SLUICE_EMBEDDING_BACKEND=torch. {done.stderr.strip()[-1500:]}"
            )
    return target


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # per call: lanes run side by side, as with torch
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle cores free
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _pooling(model_path: Path) -> tuple[int, int]:
    """The token window and vector length the model's sentence-transformers config names;
    refuses any pooling other than the mean this provider computes."""
    pooling = json.loads((model_path / "1_Pooling" / "config.json").read_text())
    modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if list(modes) != ["pooling_mode_mean_tokens"]:
        raise ValueError(f"{model_path}: pooling {sorted(modes)} is not a mean over tokens")
    window = json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"]
    return int(window), int(pooling["word_embedding_dimension"])


class OnnxSentenceTransformer:
    """The local model's provider on ONNX Runtime: the torch provider's vectors (within
    1e-3 cosine), lanes and batching, in a process that never loads torch."""

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        cache_dir: Path | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        lanes: int | None = None,
        device: str = "auto",
    ) -> None:
        if device not in ("auto", "cpu"):
            raise ValueError(
                f"embedding device {device!r}: the onnx backend runs on the CPU;"
                " use SLUICE_EMBEDDING_BACKEND=torch for a GPU"
            )
        self.device = "cpu"
        self.concurrency, threads = plan_lanes(batch_size, threads, lanes)
        model_path = model_path or bundled_model_path()
        window, self.dimensions = _pooling(model_path)
        self.model_file = cached_model_file(model_path, cache_dir or default_cache_dir())
        self._session = self._load(model_path, threads)
        self._inputs = Backend.from_file(str(model_path / "tokenizer.json"))
        self._inputs.enable_truncation(window)  # the file says 128; the model reads 256
        self._inputs.no_padding()  # each pass pads to its own longest text
        self.provider_name = "local"
        self.model_name = MODEL_NAME
        self.batch_size = batch_size
        self.pass_tokens = PASS_TOKENS
        self.tokenizer: Tokenizer = ModelTokenizer(span_tokenizer(model_path))
        self.max_tokens = window - self._inputs.num_special_tokens_to_add(False)

    def _load(self, model_path: Path, threads: int) -> ort.InferenceSession:
        """The cached export, exported first when missing and again when it cannot load."""
        path = ensure_exported(model_path, self.model_file)
        try:
            return self._checked(_session(path, threads))
        except _UNLOADABLE as error:
            log.warning("cached ONNX model %s cannot load (%s): exporting it again", path, error)
        ensure_exported(model_path, path, stale=path.stat().st_mtime_ns)
        return self._checked(_session(path, threads))

    def _checked(self, session: ort.InferenceSession) -> ort.InferenceSession:
        """`session`, once it gives token vectors of this model's length."""
        ids = np.array([[101, 102]], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": ids * 0}
        shape = session.run([OUTPUT], feed)[0].shape
        if shape != (1, 2, self.dimensions):
            raise ort_errors.InvalidGraph(f"token vectors of shape {shape}")
        return session

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Return one L2-normalised vector per text, `batch_size` texts per pass."""
        return embed_by_length(texts, self.batch_size, self._forward)

    def _forward(self, texts: list[str]) -> list[list[float]]:
        encoded = self._inputs.encode_batch(texts)
        vectors: list[list[float]] = [[] for _ in texts]
        for part in plan_passes([len(e.ids) for e in encoded], self.pass_tokens):
            for i, vector in zip(part, self._run([encoded[i].ids for i in part]), strict=True):
                vectors[i] = vector
        return vectors

    def _run(self, rows: list[list[int]]) -> list[list[float]]:
        """One ONNX Runtime run over `rows` of token ids, padded to the longest: their vectors."""
        ids = np.zeros((len(rows), max(map(len, rows))), dtype=np.int64)  # [PAD] is id 0
        mask = np.zeros_like(ids)
        for row, text in enumerate(rows):
            ids[row, : len(text)] = text
            mask[row, : len(text)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        tokens: Any = self._session.run([OUTPUT], feed)[0]
        weights = mask[..., None].astype(np.float32)
        mean = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)
        vectors: list[list[float]] = (mean / norms).tolist()
        return vectors


def plan_passes(lengths: list[int], budget: int) -> list[list[int]]:
    """The indices of texts of `lengths` tokens in runs, longest first: each run pads its texts
    to its first (longest) and holds at most `budget` padded tokens, or one text."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    passes: list[list[int]] = []
    at = 0
    while at < len(order):
        size = max(1, budget // max(1, lengths[order[at]]))
        passes.append(order[at : at + size])
        at += size
    return passes
