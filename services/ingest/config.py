"""Ingest settings: the common ones plus upload limits, the HTTP port and browser origins."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.common.settings import CommonSettings, origin_of


class IngestSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the ingest service."""

    ingest_port: Annotated[int, msgspec.Meta(description="Ingest HTTP port")] = 8000
    max_upload_bytes: Annotated[int, msgspec.Meta(description="Largest accepted upload")] = (
        50 * 1024 * 1024
    )
    status_base_url: Annotated[str, msgspec.Meta(description="Status API base for links")] = (
        "http://127.0.0.1:8001"
    )

    @property
    def cors(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """CORS as configured, plus what the web console (served by status) needs to upload:
        the status service's origin, POST, and the Authorization and Idempotency-Key headers."""
        origins, methods, headers = super().cors
        return (
            tuple(dict.fromkeys((origin_of(self.status_base_url), *origins))),
            tuple(dict.fromkeys((*methods, "POST"))),
            tuple(dict.fromkeys((*headers, "Authorization", "Idempotency-Key"))),
        )
