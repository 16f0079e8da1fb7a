"""The efficiency benchmark's model half on a GPU: the same chunks, the same model, CPU vs CUDA.

A GPU machine lent for a few minutes has torch and sentence-transformers but no JVM, no Kafka,
no PostgreSQL and no network, so the pipeline half of `bench.efficiency` cannot run there. This
module splits the work: `prepare` (here, with the project installed) chunks the efficiency
corpus exactly as `bench.raw_model` does and writes the chunk texts; `run` (there, needing only
torch, sentence-transformers and this repository) times, on each device:

- `plain`: one `SentenceTransformer.encode` over every chunk, the baseline the target names;
- `lanes`: the embedder's own provider (`LocalSentenceTransformer`) and call plan;

and checks that the GPU's vectors match the CPU's (cosine). One JSON line per measurement.

    python -m bench.accelerator prepare --out .gpu/chunks.json
    python -m bench.accelerator run --chunks .gpu/chunks.json --model DIR --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from services.common.embedding.local_model import (
    DEFAULT_BATCH_SIZE,
    LocalSentenceTransformer,
    _load_model,
)
from services.embedder.core.calls import plan_calls


def prepare(count: int, out: Path) -> None:
    """Write the efficiency corpus's chunks (text, tokens) as `bench.raw_model` cuts them."""
    from bench.corpus import corpus
    from services.common.settings import load_settings
    from services.embedder.config import EmbedderSettings
    from services.embedder.core.chunking import chunk_text
    from services.parser.core.extract import extract

    config = load_settings(EmbedderSettings)
    provider = LocalSentenceTransformer(batch_size=config.embedding_batch_size, device="cpu")
    sizes = config.chunk_sizes().within(provider.max_tokens)
    chunks = [
        {"text": c.text, "tokens": c.token_count}
        for d in corpus(count)
        for c in chunk_text(
            extract(d.data, d.media_type).text,
            provider.tokenizer,
            max_tokens=sizes.max_tokens,
            overlap_tokens=sizes.overlap_tokens,
        )
    ]
    meta = {"documents": count, "batch_size": config.embedding_batch_size, "chunks": chunks}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(meta))
    print(json.dumps({"prepared": len(chunks), "documents": count, "out": str(out)}))


def _plain(model: Any, texts: list[str], batch_size: int) -> tuple[float, Any]:
    model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up
    _synchronize()
    started = time.perf_counter()
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    )
    _synchronize()
    return time.perf_counter() - started, vectors


def _lanes(provider: LocalSentenceTransformer, texts: list[str], tokens: list[int]) -> float:
    calls = [
        [texts[i] for i in call]
        for call in plan_calls(tokens, provider.batch_size, provider.concurrency)
    ]
    provider.embed(calls[0])  # warm-up
    _synchronize()
    with ThreadPoolExecutor(provider.concurrency) as lanes:
        started = time.perf_counter()
        list(lanes.map(provider.embed, calls))
        _synchronize()
        return time.perf_counter() - started


def _synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run(chunks_file: Path, model_dir: Path, repeats: int, devices: list[str]) -> None:
    """Time plain and lanes on each device, interleaved, and compare the devices' vectors."""
    import torch

    meta = json.loads(chunks_file.read_text())
    texts = [c["text"] for c in meta["chunks"]]
    tokens = [c["tokens"] for c in meta["chunks"]]
    batch = int(meta.get("batch_size", DEFAULT_BATCH_SIZE))
    info = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_threads": torch.get_num_threads(),
        "chunks": len(texts),
        "documents": meta["documents"],
        "batch_size": batch,
    }
    print(json.dumps({"setup": info}), flush=True)
    default_threads = torch.get_num_threads()
    models = {d: _load_model(model_dir, default_threads, d) for d in devices}
    providers = {
        d: LocalSentenceTransformer(model_path=model_dir, batch_size=batch, device=d)
        for d in devices
    }
    vectors: dict[str, Any] = {}
    for repeat in range(repeats):
        for device in devices:
            seconds, vectors[device] = _plain(models[device], texts, batch)
            print(_line(device, "plain", repeat, len(texts), seconds), flush=True)
            seconds = _lanes(providers[device], texts, tokens)
            lanes = providers[device].concurrency
            print(_line(device, f"lanes({lanes})", repeat, len(texts), seconds), flush=True)
    if "cpu" in vectors and "cuda" in vectors:
        cpu, gpu = torch.tensor(vectors["cpu"]), torch.tensor(vectors["cuda"])
        cosine = torch.nn.functional.cosine_similarity(cpu, gpu, dim=1)
        print(json.dumps({"cpu_vs_cuda_cosine_min": float(cosine.min())}), flush=True)


def _line(device: str, mode: str, repeat: int, chunks: int, seconds: float) -> str:
    return json.dumps(
        {
            "device": device,
            "mode": mode,
            "repeat": repeat,
            "seconds": round(seconds, 4),
            "chunks_per_s": round(chunks / seconds, 1),
        }
    )


def main() -> None:
    """`prepare` the chunks here, `run` the timings where the GPU is."""
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("prepare")
    made.add_argument("--count", type=int, default=200)
    made.add_argument("--out", type=Path, required=True)
    timed = commands.add_parser("run")
    timed.add_argument("--chunks", type=Path, required=True)
    timed.add_argument("--model", type=Path, required=True)
    timed.add_argument("--repeats", type=int, default=3)
    timed.add_argument("--devices", default="cpu,cuda")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.count, args.out)
    else:
        run(args.chunks, args.model, args.repeats, args.devices.split(","))


if __name__ == "__main__":
    main()
