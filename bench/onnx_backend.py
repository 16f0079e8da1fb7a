"""The local model on ONNX Runtime beside torch: chunks/s and peak RSS, in one run.

The corpus is chunked once, as the embedder chunks it for the local model; each measurement is
a fresh process (`python -m bench.onnx_backend --backend B --chunks FILE`) that builds the
`local` provider on backend B, embeds every chunk with the embedder's call plan and lanes
(`bench.raw_model.lanes_seconds`), and reports its chunks/s and peak RSS (VmHWM). Runs
alternate torch and onnx. A third kind of process stands for the status service: it imports
the status service's modules, builds the provider through its `ModelShelf` and embeds one
search query; its VmHWM is what the model costs status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import Context, Outcome, Row, log
from infra.local import REPO_ROOT
from services.common.embedding.local_model import (
    ModelTokenizer,
    bundled_model_path,
    span_tokenizer,
)
from services.embedder.core.chunking import ChunkSizes, chunk_text

MAX_TOKENS = 254  # all-MiniLM-L6-v2's window without [CLS] and [SEP]
BACKENDS = ("torch", "onnx")


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _measure(backend: str, chunks_file: Path) -> dict[str, float]:
    """In this (fresh) process: chunks/s of the provider on `backend`, and the peak RSS."""
    from bench.raw_model import lanes_seconds
    from services.common.embedding.build import build_provider
    from services.embedder.core.chunking import Chunk

    texts: list[str] = json.loads(chunks_file.read_text())
    provider = build_provider("local", backend=backend, device="cpu")
    spans = provider.tokenizer.token_spans
    chunks = [
        Chunk(index=i, text=t, start=0, end=len(t), token_count=len(spans(t)))
        for i, t in enumerate(texts)
    ]
    seconds = lanes_seconds(provider, chunks)
    return {"chunks_per_s": len(chunks) / seconds, "peak_rss_mib": peak_rss_mib()}


def _status_query(backend: str) -> dict[str, float]:
    """In this (fresh) process: status's modules, its model shelf, one query embedded."""
    import services.status.main  # noqa: F401 - what the status service loads
    from services.common.embedding.models import ModelShelf

    shelf = ModelShelf("local", {"backend": backend, "device": "cpu"})
    provider = asyncio.run(shelf.load_default())
    provider.embed(["how do consumer groups share partitions?"])
    return {"peak_rss_mib": peak_rss_mib()}


def _child(args: list[str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.onnx_backend", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.onnx_backend {' '.join(args)} failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(ctx: Context) -> Outcome:
    """Alternate torch and onnx processes over the same chunks; their ratios."""
    from bench.corpus import corpus
    from services.parser.core.extract import extract

    count, repeats = (24, 1) if ctx.quick else (120, 3)
    sizes = ChunkSizes(256, 32).within(MAX_TOKENS)
    tokenizer = ModelTokenizer(span_tokenizer(bundled_model_path()))
    texts = [extract(d.data, d.media_type).text for d in corpus(count)]
    chunks = [
        c.text
        for t in texts
        for c in chunk_text(
            t, tokenizer, max_tokens=sizes.max_tokens, overlap_tokens=sizes.overlap_tokens
        )
    ]
    out = Outcome("onnx_backend")
    out.notes.append(
        f"{len(chunks)} chunks (≤{sizes.max_tokens} tokens) of {count} corpus documents;"
        " all-MiniLM-L6-v2 on the CPU, the embedder's lanes and call plan, default threads;"
        " each figure from a fresh process (the onnx export is cached before timing);"
        " status = a process importing services.status.main that embeds one query through"
        " its ModelShelf"
    )
    _child(["--backend", "onnx", "--status"])  # exports into the cache if not there yet
    rates: dict[str, list[float]] = {b: [] for b in BACKENDS}
    peaks: dict[str, list[float]] = {b: [] for b in BACKENDS}
    status: dict[str, list[float]] = {b: [] for b in BACKENDS}
    with tempfile.TemporaryDirectory() as folder:
        chunks_file = Path(folder) / "chunks.json"
        chunks_file.write_text(json.dumps(chunks))
        for i in range(repeats):
            for backend in BACKENDS:
                log(f"onnx_backend run {i + 1}/{repeats}: {backend}")
                measured = _child(["--backend", backend, "--chunks", str(chunks_file)])
                rates[backend].append(measured["chunks_per_s"])
                peaks[backend].append(measured["peak_rss_mib"])
                status[backend].append(_child(["--backend", backend, "--status"])["peak_rss_mib"])
    ratio = [o / t for o, t in zip(rates["onnx"], rates["torch"], strict=True)]
    memory = [o / t for o, t in zip(peaks["onnx"], peaks["torch"], strict=True)]
    for backend in BACKENDS:
        out.add(Row(f"{backend}: embedding", rates[backend], "chunks/s"))
    out.add(Row("onnx / torch chunks/s", ratio, "", note=f"{statistics.median(ratio):.2f}"))
    for backend in BACKENDS:
        out.add(Row(f"{backend}: embedding peak RSS", peaks[backend], "MiB"))
    out.add(Row("onnx / torch peak RSS", memory, ""))
    for backend in BACKENDS:
        ok = statistics.median(status[backend]) <= 250
        out.add(Row(f"{backend}: status peak RSS", status[backend], "MiB", "≤ 250 MiB", ok))
    return out


def main() -> None:
    """One measurement in this process, printed as a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=BACKENDS, required=True)
    parser.add_argument("--chunks", type=Path, help="JSON list of chunk texts to embed")
    parser.add_argument("--status", action="store_true", help="status's query embedding")
    args = parser.parse_args()
    started = time.perf_counter()
    result = _status_query(args.backend) if args.status else _measure(args.backend, args.chunks)
    print(json.dumps({**result, "seconds": time.perf_counter() - started}), flush=True)


if __name__ == "__main__":
    main()
