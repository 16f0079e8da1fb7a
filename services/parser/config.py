"""Parser settings: the common ones plus sandbox limits."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.common.settings import CommonSettings, CpuNice


class ParserSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the parser service."""

    cpu_nice: CpuNice = 10

    parser_port: Annotated[int, msgspec.Meta(description="Parser health/metrics port")] = 8002
    parser_group: Annotated[str, msgspec.Meta(description="Consumer group")] = "sluice-parser"
    parse_workers: Annotated[int, msgspec.Meta(description="Parser worker processes")] = 2
    parse_timeout_s: Annotated[float, msgspec.Meta(description="Per-document time limit")] = 30.0
    parse_timeout_retries: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="Retries of a document that hit the time limit (0: `parse_timeout` is"
            " final; each retry costs a worker the whole limit again)",
        ),
    ] = 0
    parse_memory_mb: Annotated[int, msgspec.Meta(description="Per-worker address-space cap")] = 2048
    parser_batch: Annotated[int, msgspec.Meta(description="Max records per poll")] = 8
    parser_in_flight: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="Documents handled at once, each handed on as it finishes"
            " (0: SLUICE_PARSE_WORKERS)",
        ),
    ] = 0
