"""Status settings: the common ones plus the HTTP port and the search model (as the embedder's)."""

from __future__ import annotations

from typing import Annotated, Literal

from services.common.embedding.settings import ProviderSettings
from services.common.settings import doc


class StatusSettings(ProviderSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the status service."""

    status_port: Annotated[int, doc("Status HTTP port")] = 8001
    pipeline_sample_s: Annotated[
        float,
        doc("GET /v1/pipeline: how often Kafka's groups are sampled", gt=0),
    ] = 5.0
    pipeline_stall_s: Annotated[
        float,
        doc(
            "GET /v1/pipeline: a stage with lag that commits nothing for this long"
            " is `stuck` (before that, `waiting`)",
            gt=0,
        ),
    ] = 60.0
    pipeline_windows_max_age_s: Annotated[
        float,
        doc(
            "GET /v1/pipeline: pipestats's windows older than this are unknown"
            " (pipestats stopped or cannot write)",
            gt=0,
        ),
    ] = 30.0
    embedding_provider: Annotated[
        str,
        doc("Embeds search queries; must match the embedder's: local | openai | hashing"),
    ] = "local"
    embedding_backend: Annotated[
        Literal["auto", "onnx", "torch"],
        doc(
            "How the local model embeds queries: onnx (ONNX Runtime, no torch in"
            " status: a quarter of the memory) | torch | auto (as the embedder's: torch where a"
            " GPU is, else onnx); either matches the embedder's vectors"
        ),
    ] = "onnx"
    projector_batch: Annotated[int, doc("Max events per projection txn")] = 500
    projector_gather_ms: Annotated[
        int,
        doc(
            "How long the broker may hold the projector's fetch to gather events (64 KiB):"
            " fewer, larger batches; a job's state shows up at most this much later (0 ="
            " as soon as one event is there)",
            ge=0,
            le=5000,
        ),
    ] = 500
    search_exact_below: Annotated[
        int,
        doc(
            "A tenant with fewer chunks in its vector set is searched exactly"
            " (no HNSW); see docs/benchmarks.md",
            ge=0,
        ),
    ] = 20_000
    search_ef: Annotated[
        int,
        doc("HNSW candidate list (hnsw.ef_search) of a search", ge=10, le=1000),
    ] = 100
    search_max_scan_tuples: Annotated[
        int,
        doc(
            "Most index entries an iterative HNSW scan visits to find the"
            " tenant's rows (hnsw.max_scan_tuples)",
            ge=1000,
        ),
    ] = 50_000
    dlq_ack_group: Annotated[
        str,
        doc(
            "Consumer group whose committed offsets on the .dlq topics mark dead"
            " letters handled: the dead-letter depth (and its alert) counts the records after them"
        ),
    ] = "sluice-dlq-ack"
    offsets_interval_s: Annotated[
        float,
        doc("How often status reads group offsets and dead-letter end offsets", gt=0),
    ] = 15.0
    public_ingest_url: Annotated[
        str,
        doc(
            "Ingest's base URL as a browser reaches it: the console (/console)"
            " uploads there; ingest must allow the console's origin (SLUICE_CORS_ALLOW_ORIGINS)",
            pattern=r"^https?://[^/\s]+(/\S*)?$",
        ),
    ] = "http://127.0.0.1:8000"
