"""Status settings: the common ones plus the HTTP port and the search model (as the embedder's)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from services.common.embedding.settings import ProviderSettings


class StatusSettings(ProviderSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the status service."""

    status_port: Annotated[int, msgspec.Meta(description="Status HTTP port")] = 8001
    pipeline_sample_s: Annotated[
        float,
        msgspec.Meta(gt=0, description="GET /v1/pipeline: how often Kafka's groups are sampled"),
    ] = 5.0
    pipeline_stall_s: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="GET /v1/pipeline: a stage with lag that commits nothing for this long"
            " is `stuck` (before that, `waiting`)",
        ),
    ] = 60.0
    embedding_provider: Annotated[
        str,
        msgspec.Meta(
            description="Embeds search queries; must match the embedder's: local | openai | hashing"
        ),
    ] = "local"
    embedding_backend: Annotated[
        Literal["onnx", "torch"],
        msgspec.Meta(
            description="How the local model embeds queries: onnx (ONNX Runtime, no torch in"
            " status: a quarter of the memory) | torch; either matches the embedder's vectors"
        ),
    ] = "onnx"
    projector_batch: Annotated[int, msgspec.Meta(description="Max events per projection txn")] = 500
    search_exact_below: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="A tenant with fewer chunks in its vector set is searched exactly"
            " (no HNSW); see docs/benchmarks.md",
        ),
    ] = 20_000
    search_ef: Annotated[
        int,
        msgspec.Meta(
            ge=10, le=1000, description="HNSW candidate list (hnsw.ef_search) of a search"
        ),
    ] = 100
    search_max_scan_tuples: Annotated[
        int,
        msgspec.Meta(
            ge=1000,
            description="Most index entries an iterative HNSW scan visits to find the"
            " tenant's rows (hnsw.max_scan_tuples)",
        ),
    ] = 50_000
    parser_group: Annotated[
        str, msgspec.Meta(description="The parser's consumer group, whose lag status reports")
    ] = "sluice-parser"
    embedder_group: Annotated[
        str, msgspec.Meta(description="The embedder's consumer group, whose lag status reports")
    ] = "sluice-embedder"
    dlq_ack_group: Annotated[
        str,
        msgspec.Meta(
            description="Consumer group whose committed offsets on the .dlq topics mark dead"
            " letters handled: the dead-letter depth (and its alert) counts the records after them"
        ),
    ] = "sluice-dlq-ack"
    offsets_interval_s: Annotated[
        float,
        msgspec.Meta(
            gt=0, description="How often status reads group offsets and dead-letter end offsets"
        ),
    ] = 15.0
    public_ingest_url: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^https?://[^/\s]+(/\S*)?$",
            description="Ingest's base URL as a browser reaches it: the console (/console)"
            " uploads there; ingest must allow the console's origin (SLUICE_CORS_ALLOW_ORIGINS)",
        ),
    ] = "http://127.0.0.1:8000"
