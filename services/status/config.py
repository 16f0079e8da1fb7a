"""Status settings: the common ones plus the HTTP port and the search model."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.common.settings import CommonSettings


class StatusSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the status service."""

    status_port: Annotated[int, msgspec.Meta(description="Status HTTP port")] = 8001
    status_group: Annotated[str, msgspec.Meta(description="Projector consumer group")] = (
        "sluice-status"
    )
    embedding_provider: Annotated[
        str, msgspec.Meta(description="Model used to embed search queries: local | hashing")
    ] = "local"
    projector_batch: Annotated[int, msgspec.Meta(description="Max events per projection txn")] = 500
