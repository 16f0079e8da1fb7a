"""The raw model alone: chunk the corpus like the embedder, then time one `embed` over it.

Run as a separate process (`python -m bench.raw_model --count N`); prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

from bench.corpus import corpus
from services.common.settings import load_settings
from services.embedder.config import EmbedderSettings
from services.embedder.core.chunking import chunk_text
from services.embedder.providers import build_provider
from services.parser.core.extract import extract


def main() -> None:
    """Measure chunks/s of the configured provider on the corpus, as the embedder calls it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    config = load_settings(EmbedderSettings)
    provider = build_provider(
        config.embedding_provider,
        batch_size=config.embedding_batch_size,
        threads=config.embedding_threads or None,
    )
    # the same limits EmbedStage applies
    chunk_tokens = min(config.chunk_tokens, provider.max_tokens)
    overlap = min(config.chunk_overlap, chunk_tokens // 2)
    texts = [extract(d.data, d.media_type).text for d in corpus(args.count)]
    started = time.perf_counter()
    chunks = [
        c.text
        for t in texts
        for c in chunk_text(t, provider.tokenizer, max_tokens=chunk_tokens, overlap_tokens=overlap)
    ]
    chunk_s = time.perf_counter() - started
    provider.embed(chunks[: config.embedding_batch_size])  # warm-up, as the pipeline's is
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        provider.embed(chunks)
        seconds.append(time.perf_counter() - started)
    result = {
        "provider": provider.model_name,
        "batch_size": config.embedding_batch_size,
        "chunk_tokens": chunk_tokens,
        "chunks": len(chunks),
        "chunk_seconds": chunk_s,
        "embed_seconds": seconds,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
