"""Parser settings: the common ones plus sandbox limits."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.common.settings import CommonSettings


class ParserSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the parser service."""

    cpu_nice: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=19,
            description="Added to the process's nice value at start: batch CPU work yields to"
            " ingest and status on a shared machine (0 = leave it)",
        ),
    ] = 10

    parser_port: Annotated[int, msgspec.Meta(description="Parser health/metrics port")] = 8002
    parser_group: Annotated[str, msgspec.Meta(description="Consumer group")] = "sluice-parser"
    parse_workers: Annotated[int, msgspec.Meta(description="Parser worker processes")] = 2
    parse_timeout_s: Annotated[float, msgspec.Meta(description="Per-document time limit")] = 30.0
    parse_memory_mb: Annotated[int, msgspec.Meta(description="Per-worker address-space cap")] = 2048
    parser_batch: Annotated[int, msgspec.Meta(description="Max records per poll")] = 8
