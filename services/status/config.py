"""Status settings: the common ones plus the HTTP port and the search model (as the embedder's)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.common.embedding.settings import ProviderSettings


class StatusSettings(ProviderSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the status service."""

    status_port: Annotated[int, msgspec.Meta(description="Status HTTP port")] = 8001
    status_group: Annotated[str, msgspec.Meta(description="Projector consumer group")] = (
        "sluice-status"
    )
    parser_group: Annotated[
        str, msgspec.Meta(description="The parser's consumer group (the pipeline view reads it)")
    ] = "sluice-parser"
    embedder_group: Annotated[
        str, msgspec.Meta(description="The embedder's consumer group (the pipeline view reads it)")
    ] = "sluice-embedder"
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
    projector_batch: Annotated[int, msgspec.Meta(description="Max events per projection txn")] = 500
    public_ingest_url: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^https?://[^/\s]+(/\S*)?$",
            description="Ingest's base URL as a browser reaches it: the console (/console)"
            " uploads there; ingest must allow the console's origin (SLUICE_CORS_ALLOW_ORIGINS)",
        ),
    ] = "http://127.0.0.1:8000"
