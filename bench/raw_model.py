"""The raw model alone: chunk the corpus like the embedder, then time embedding every chunk.

Run as a separate process (`python -m bench.raw_model --count N`); prints one JSON line with
two timings of the same chunks, both in this one process:

- `plain`: what a plain script does, one `SentenceTransformer.encode` over all chunks with the
  same batch size and torch's default threads (the baseline the efficiency target names);
- `lanes`: the embedder's own provider and call plan (`plan_calls`, `concurrency` calls at a
  time), without Kafka, Postgres or the services: what the pipeline's model work costs alone.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

from bench.corpus import corpus
from services.common.embedding.build import build_provider
from services.common.embedding.local_model import _load_model, bundled_model_path
from services.common.embedding.ports import EmbeddingProvider
from services.common.settings import load_settings
from services.embedder.config import EmbedderSettings
from services.embedder.core.calls import plan_calls
from services.embedder.core.chunking import Chunk, chunk_text
from services.parser.core.extract import extract


def plain_seconds(texts: list[str], batch_size: int, threads: int) -> float:
    """One `encode` over every text on `threads` torch threads, as a plain script would."""
    model = _load_model(bundled_model_path(), threads=threads)
    model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up, as the pipeline's is
    started = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return time.perf_counter() - started


def lanes_seconds(provider: EmbeddingProvider, chunks: list[Chunk]) -> float:
    """The embedder's call plan on its provider, `concurrency` calls at a time."""
    counts = [c.token_count for c in chunks]
    calls = [
        [chunks[i].text for i in call]
        for call in plan_calls(counts, provider.batch_size, provider.concurrency)
    ]
    provider.embed(calls[0][: provider.batch_size])  # warm-up
    with ThreadPoolExecutor(provider.concurrency) as lanes:
        started = time.perf_counter()
        list(lanes.map(provider.embed, calls))
        return time.perf_counter() - started


def main() -> None:
    """Measure chunks/s of the local model on the corpus, plainly and as the embedder calls it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--mode", choices=("plain", "lanes"), required=True)
    args = parser.parse_args()
    import torch  # the measuring process only (bench.onnx_backend borrows `lanes_seconds`)

    config = load_settings(EmbedderSettings)
    default_threads = torch.get_num_threads()  # before the provider sets its own
    provider = build_provider(  # the embedder's backend (SLUICE_EMBEDDING_BACKEND)
        "local",
        batch_size=config.embedding_batch_size,
        threads=config.embedding_threads or None,
        lanes=config.embedding_lanes or None,
        **config.provider_options(),
    )
    # the same limits EmbedStage applies
    sizes = config.chunk_sizes().within(provider.max_tokens)
    chunk_tokens, overlap = sizes.max_tokens, sizes.overlap_tokens
    texts = [extract(d.data, d.media_type).text for d in corpus(args.count)]
    started = time.perf_counter()
    chunks = [
        c
        for t in texts
        for c in chunk_text(t, provider.tokenizer, max_tokens=chunk_tokens, overlap_tokens=overlap)
    ]
    chunk_s = time.perf_counter() - started
    if args.mode == "plain":
        texts_ = [c.text for c in chunks]
        seconds = plain_seconds(texts_, config.embedding_batch_size, default_threads)
        lanes = 1
    else:
        seconds = lanes_seconds(provider, chunks)
        lanes = provider.concurrency
    result = {
        "mode": args.mode,
        "batch_size": config.embedding_batch_size,
        "lanes": lanes,
        "torch_threads": torch.get_num_threads(),
        "chunk_tokens": chunk_tokens,
        "chunks": len(chunks),
        "chunk_seconds": chunk_s,
        "embed_seconds": seconds,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
