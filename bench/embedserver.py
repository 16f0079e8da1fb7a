"""Embedding server: chunks/s through `services.embedserver` beside the raw model, in one run.

The corpus is chunked as the embedder chunks it for the local model; the same chunks are then
embedded, alternately, by the raw model in this process (the local provider, its own lanes) and
through the server (a process on this machine, its default lanes) by the `openai` provider, with
as many client threads as the server has lanes, each sending requests of `REQUEST_INPUTS`
chunks. The ratio is what the HTTP hop, JSON and token counting cost.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.corpus import corpus
from bench.report import Context, Outcome, Row, log
from infra.local.embedserver import served
from services.common.embedding.build import build_provider
from services.common.embedding.openai_compatible import OpenAICompatibleEmbedder
from services.common.embedding.remote import RemoteOptions
from services.embedder.core.chunking import ChunkSizes, chunk_text
from services.parser.core.extract import extract

REQUEST_INPUTS = 64
KEY = "bench-embedserver"


def _timed(embed: Callable[[list[str]], object], requests: list[list[str]], lanes: int) -> float:
    """Seconds to embed every request, `lanes` at a time."""
    embed(requests[0][:8])  # warm-up
    with ThreadPoolExecutor(lanes) as pool:
        started = time.perf_counter()
        list(pool.map(embed, requests))
        return time.perf_counter() - started


def run(ctx: Context) -> Outcome:
    """Alternate raw and served runs over the same chunks; chunks/s of each and their ratio."""
    count, repeats = (24, 1) if ctx.quick else (120, 3)
    raw = build_provider("local")
    sizes = ChunkSizes(256, 32).within(raw.max_tokens)
    texts = [extract(d.data, d.media_type).text for d in corpus(count)]
    chunks = [
        c.text
        for t in texts
        for c in chunk_text(
            t, raw.tokenizer, max_tokens=sizes.max_tokens, overlap_tokens=sizes.overlap_tokens
        )
    ]
    requests = [chunks[i : i + REQUEST_INPUTS] for i in range(0, len(chunks), REQUEST_INPUTS)]
    lanes = raw.concurrency
    out = Outcome("embedserver")
    out.notes.append(
        f"{len(chunks)} chunks (≤{sizes.max_tokens} tokens) of {count} corpus documents;"
        f" all-MiniLM-L6-v2 on the CPU, {lanes} lanes both ways; raw = the local provider in"
        f" the bench process, {lanes} threads calling `embed` on {REQUEST_INPUTS} chunks;"
        f" served = the `openai` provider, {lanes} threads, requests of {REQUEST_INPUTS} chunks"
        " to `python -m services.embedserver` on the same machine; runs alternate"
    )
    raw_rates: list[float] = []
    served_rates: list[float] = []
    log_file = Path(tempfile.gettempdir()) / "bench-embedserver.log"
    with served(log_file, KEY, ready_s=300, stop_s=120) as base_url:
        options = RemoteOptions(
            base_url=base_url, api_key=KEY, model=raw.model_name, dimensions=384, timeout_s=600
        )  # a busy machine may take long over one request; the bench measures, never gives up
        local = threading.local()
        made: list[OpenAICompatibleEmbedder] = []

        def through_server(batch: list[str]) -> object:
            client: OpenAICompatibleEmbedder | None = getattr(local, "client", None)
            if client is None:  # one HTTP client per thread, as one per embedder replica
                client = local.client = OpenAICompatibleEmbedder(options)
                made.append(client)
            return client.embed(batch)

        try:
            for i in range(repeats):
                log(f"embedserver run {i + 1}/{repeats}: raw, then served")
                raw_rates.append(len(chunks) / _timed(raw.embed, requests, lanes))
                served_rates.append(len(chunks) / _timed(through_server, requests, lanes))
        finally:
            for client in made:
                client.close()
    ratios = [s / r for s, r in zip(served_rates, raw_rates, strict=True)]
    out.add(Row("raw model", raw_rates, "chunks/s"))
    out.add(Row("through embedserver", served_rates, "chunks/s"))
    out.add(Row("served / raw", ratios, "", note=f"median {statistics.median(ratios):.2f}"))
    return out
