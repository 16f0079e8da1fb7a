"""Ingest settings: the common ones plus upload limits, the HTTP port and browser origins."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import msgspec

from services.common.settings import CommonSettings


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL: what a browser sends as `Origin`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class IngestSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the ingest service."""

    ingest_port: Annotated[int, msgspec.Meta(description="Ingest HTTP port")] = 8000
    max_upload_bytes: Annotated[int, msgspec.Meta(description="Largest accepted upload")] = (
        50 * 1024 * 1024
    )
    status_base_url: Annotated[str, msgspec.Meta(description="Status API base for links")] = (
        "http://127.0.0.1:8001"
    )
    cors_origins: Annotated[
        str,
        msgspec.Meta(
            description="Comma-separated browser origins allowed to upload (CORS), besides"
            " the status service's own (status_base_url), which serves the web console"
        ),
    ] = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        extra = [o.strip() for o in self.cors_origins.split(",") if o.strip()]
        if "*" in extra and self.env == "production":
            raise ValueError("SLUICE_CORS_ORIGINS must list origins in production, not '*'")
        for value in extra:
            if value != "*" and origin_of(value) != value.rstrip("/"):
                raise ValueError(
                    f"SLUICE_CORS_ORIGINS: {value!r} is not an origin (scheme://host[:port])"
                )

    @property
    def allowed_origins(self) -> list[str]:
        """The origins whose pages may call ingest: the console's, then the configured ones."""
        extra = [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]
        return list(dict.fromkeys([origin_of(self.status_base_url), *extra]))
