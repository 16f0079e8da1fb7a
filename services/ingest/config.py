"""Ingest settings: the common ones plus upload limits and the HTTP port."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.common.settings import CommonSettings


class IngestSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the ingest service."""

    ingest_port: Annotated[int, msgspec.Meta(description="Ingest HTTP port")] = 8000
    max_upload_bytes: Annotated[int, msgspec.Meta(description="Largest accepted upload")] = (
        50 * 1024 * 1024
    )
    status_base_url: Annotated[str, msgspec.Meta(description="Status API base for links")] = (
        "http://127.0.0.1:8001"
    )
