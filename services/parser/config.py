"""Parser settings: the common ones, LlamaParse and its routing, and the sandbox's limits."""

from __future__ import annotations

from typing import Annotated, Literal

from services.common.settings import CommonSettings, CpuNice, doc

LLAMAPARSE_IN_FLIGHT = 8  # documents at once by default with LlamaParse on: they mostly wait
IN_FLIGHT_PER_WORKER = 4  # documents at once per sandbox worker: reads, writes and acks overlap
_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"


class LlamaParseSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_LLAMAPARSE_*: LlamaParse's REST API, which documents it reads, and failover."""

    llamaparse_api_key: Annotated[
        str, doc("LlamaCloud API key; empty: LlamaParse is off and every document is local")
    ] = ""
    llamaparse_base_url: Annotated[
        str, doc("LlamaCloud API base (EU: `https://api.cloud.eu.llamaindex.ai`)")
    ] = "https://api.cloud.llamaindex.ai"
    llamaparse_tier: Annotated[
        Literal["cost_effective", "agentic", "agentic_plus"],
        doc("Parse tier (`fast` is not offered: it returns no Markdown)"),
    ] = "cost_effective"
    llamaparse_version: Annotated[str, doc("Version of the tier's configuration")] = "latest"
    llamaparse_media_types: Annotated[
        str,
        doc(
            "Comma-separated media types (patterns: `application/*`) that LlamaParse reads;"
            " the others are parsed locally"
        ),
    ] = f"application/pdf,{_PPTX}"
    llamaparse_tenants: Annotated[
        str, doc("Comma-separated tenants (patterns: `acme-*`) whose documents it reads")
    ] = "*"
    llamaparse_request_timeout_s: Annotated[
        float, doc("Limit of one HTTP request (upload, poll)", gt=0)
    ] = 60.0
    llamaparse_job_timeout_s: Annotated[
        float,
        doc(
            "Limit of one document from upload to result; beyond it the document"
            " ends `llamaparse_timeout`",
            gt=0,
        ),
    ] = 600.0
    llamaparse_poll_initial_s: Annotated[
        float, doc("First wait before polling a job; doubles", gt=0)
    ] = 1.0
    llamaparse_poll_max_s: Annotated[
        float, doc("Longest wait between two polls of a job", gt=0)
    ] = 10.0
    llamaparse_max_result_mb: Annotated[
        int,
        doc("Largest result read, in MiB; a larger one ends the document `result_too_large`", ge=1),
    ] = 64
    llamaparse_rate_limit_wait_s: Annotated[
        float,
        doc(
            "Time one document may wait on 429s (honouring `Retry-After`) before"
            " LlamaParse counts as over quota",
            ge=0,
        ),
    ] = 60.0
    llamaparse_failover: Annotated[
        bool,
        doc(
            "Parse locally when LlamaParse is down (5xx, no connection, timeouts) or over"
            " quota; off: wait for it (down) or retry later (quota)"
        ),
    ] = True
    llamaparse_cooldown_s: Annotated[
        float,
        doc(
            "After a failover, how long routed documents go straight to the local"
            " parser before LlamaParse is tried again",
            ge=0,
        ),
    ] = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.llamaparse_api_key:
            return
        if not self.llamaparse_base_url.startswith(("https://", "http://")):
            raise ValueError("SLUICE_LLAMAPARSE_BASE_URL must be an http(s) URL")
        if self.env == "production" and not self.llamaparse_base_url.startswith("https://"):
            raise ValueError(
                "SLUICE_LLAMAPARSE_BASE_URL must be https:// in production (it carries the key"
                " and the documents)"
            )
        if self.llamaparse_poll_max_s < self.llamaparse_poll_initial_s:
            raise ValueError(
                "SLUICE_LLAMAPARSE_POLL_MAX_S must be at least SLUICE_LLAMAPARSE_POLL_INITIAL_S"
            )

    @property
    def llamaparse_enabled(self) -> bool:
        """Whether LlamaParse reads the documents its routes name."""
        return bool(self.llamaparse_api_key)


class ParserSettings(LlamaParseSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the parser service."""

    cpu_nice: CpuNice = 10

    parser_port: Annotated[int, doc("Parser health/metrics port")] = 8002
    parse_workers: Annotated[
        int, doc("Parser worker processes (one document each at a time)", ge=1)
    ] = 2
    parse_timeout_s: Annotated[
        float,
        doc(
            "Wall-clock limit per document; beyond it only that document's worker"
            " is killed and replaced, and the document ends `parse_timeout`",
            gt=0,
        ),
    ] = 30.0
    parse_timeout_retries: Annotated[
        int,
        doc(
            "Retries of a document that hit the time limit (0: `parse_timeout` is"
            " final; each retry costs a worker the whole limit again)",
            ge=0,
        ),
    ] = 0
    parse_cpu_s: Annotated[
        float,
        doc(
            "CPU-time limit per document (RLIMIT_CPU, re-armed for each document);"
            " beyond it the kernel ends the worker and the document ends `parse_timeout`",
            gt=0,
        ),
    ] = 20.0
    parse_memory_mb: Annotated[
        int,
        doc(
            "Address-space limit of each worker in MiB (RLIMIT_AS); a document"
            " that needs more ends `resource_limit` and its worker is replaced",
            ge=256,
        ),
    ] = 2048
    parse_file_mb: Annotated[
        int,
        doc(
            "Largest file a worker may write, in MiB (RLIMIT_FSIZE); beyond it"
            " the document ends `resource_limit`",
            ge=1,
        ),
    ] = 64
    parser_batch: Annotated[int, doc("Max records per poll")] = 8
    parser_in_flight: Annotated[
        int,
        doc(
            "Documents handled at once, each handed on as it finishes (0:"
            f" {IN_FLIGHT_PER_WORKER} per SLUICE_PARSE_WORKERS, at least {LLAMAPARSE_IN_FLIGHT}"
            " with LlamaParse on); those beyond the workers wait for one (their time limit"
            " starts when one takes them) while the others' reads, writes and sends run",
            ge=0,
        ),
    ] = 0

    @property
    def in_flight(self) -> int:
        """Documents the parser handles at once (SLUICE_PARSER_IN_FLIGHT, or its default)."""
        if self.parser_in_flight:
            return self.parser_in_flight
        workers = IN_FLIGHT_PER_WORKER * self.parse_workers
        if self.llamaparse_enabled:
            return max(workers, LLAMAPARSE_IN_FLIGHT)
        return workers
