"""Parser settings: the common ones plus sandbox limits."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.common.settings import CommonSettings, CpuNice


class ParserSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the parser service."""

    cpu_nice: CpuNice = 10

    parser_port: Annotated[int, msgspec.Meta(description="Parser health/metrics port")] = 8002
    parse_workers: Annotated[
        int, msgspec.Meta(ge=1, description="Parser worker processes (one document each at a time)")
    ] = 2
    parse_timeout_s: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="Wall-clock limit per document; beyond it only that document's worker"
            " is killed and replaced, and the document ends `parse_timeout`",
        ),
    ] = 30.0
    parse_timeout_retries: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="Retries of a document that hit the time limit (0: `parse_timeout` is"
            " final; each retry costs a worker the whole limit again)",
        ),
    ] = 0
    parse_cpu_s: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="CPU-time limit per document (RLIMIT_CPU, re-armed for each document);"
            " beyond it the kernel ends the worker and the document ends `parse_timeout`",
        ),
    ] = 20.0
    parse_memory_mb: Annotated[
        int,
        msgspec.Meta(
            ge=256,
            description="Address-space limit of each worker in MiB (RLIMIT_AS); a document"
            " that needs more ends `resource_limit` and its worker is replaced",
        ),
    ] = 2048
    parse_file_mb: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            description="Largest file a worker may write, in MiB (RLIMIT_FSIZE); beyond it"
            " the document ends `resource_limit`",
        ),
    ] = 64
    parser_batch: Annotated[int, msgspec.Meta(description="Max records per poll")] = 8
    parser_in_flight: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="Documents handled at once, each handed on as it finishes"
            " (0: SLUICE_PARSE_WORKERS)",
        ),
    ] = 0
