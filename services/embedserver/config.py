"""Embedding server settings: the common ones plus the model it serves and the API's limits."""

from __future__ import annotations

from typing import Annotated, Literal

from services.common.settings import CommonSettings, doc


class EmbedServerSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the embedding server."""

    embedserver_port: Annotated[int, doc("Embedding server port (API, health, metrics)")] = 8004
    embedserver_provider: Annotated[
        Literal["local", "hashing"],
        doc("Model served: local (all-MiniLM-L6-v2) or hashing (benchmark-only)"),
    ] = "local"
    embedserver_api_key: Annotated[
        str, doc("Bearer key clients must send (empty: none checked; required in production)")
    ] = ""
    embedserver_max_inputs: Annotated[int, doc("Most inputs in one request", gt=0)] = 2048
    embedserver_max_body_bytes: Annotated[int, doc("Largest request body, in bytes", gt=0)] = (
        32 * 1024 * 1024
    )
    embedserver_batch_size: Annotated[int, doc("Texts per model pass", gt=0)] = 32
    embedserver_threads: Annotated[
        int, doc("Torch threads per model lane (0 = CPUs / lanes)", ge=0)
    ] = 0
    embedserver_lanes: Annotated[
        int, doc("Model passes run at once (0 = one per CPU, at most 4)", ge=0)
    ] = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.env == "production" and not self.embedserver_api_key:
            raise ValueError("SLUICE_EMBEDSERVER_API_KEY must be set in production")
