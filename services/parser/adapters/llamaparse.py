"""LlamaParse over its REST API: upload, poll the job with backoff, read the Markdown per page.

`LlamaParseClient` speaks the API (services/parser/adapters/llamaparse_api.py) and turns each
answer into what the router and the stage act on:

- 401, 403: `ProviderConfigurationError(llamaparse_unauthorized)`; 404/405 where the API
  should be: `ProviderConfigurationError(llamaparse_bad_url)`. The stage pauses.
- 5xx, 408, no connection, a timed-out request, an answer that is not the API's JSON:
  `ProviderUnavailableError`. The router fails over to the local parser.
- 429: waits `Retry-After` while the document's budget (SLUICE_LLAMAPARSE_RATE_LIMIT_WAIT_S)
  lasts, then `ProviderUnavailableError(over_quota=True)`: failover.
- Another 4xx to the upload: `ParseError(llamaparse_rejected)`; the job ended FAILED or
  CANCELLED, or a 404 for it: `llamaparse_job_failed`; no result within
  SLUICE_LLAMAPARSE_JOB_TIMEOUT_S: `llamaparse_timeout`; a result over
  SLUICE_LLAMAPARSE_MAX_RESULT_MB: `result_too_large`. The job fails with that code.

`LlamaParseExtractor` is the TextExtractor the router calls: the client's Markdown pages go
through the local Markdown extractor in the sandbox (so headings become citations and each
page's start is kept), and after a configuration error it answers with a cheap probe instead
of an upload until LlamaParse accepts the key again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import msgspec

from services.common.media import SUFFIXES
from services.common.retry_after import retry_after_s
from services.parser.adapters import llamaparse_api as api
from services.parser.core.errors import (
    LLAMAPARSE_BAD_URL,
    LLAMAPARSE_JOB_FAILED,
    LLAMAPARSE_REJECTED,
    LLAMAPARSE_TIMEOUT,
    LLAMAPARSE_UNAUTHORIZED,
    RESULT_TOO_LARGE,
    ParseError,
    ProviderConfigurationError,
    ProviderUnavailableError,
)
from services.parser.core.extract import MARKDOWN_PAGES, encode_markdown_pages
from services.parser.core.parsed import ParsedText
from services.parser.core.ports import TextExtractor

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.cloud.llamaindex.ai"
MIB = 1024 * 1024
ERROR_BODY_BYTES = 64 * 1024
FIRST_RATE_LIMIT_WAIT_S = 1.0  # a 429 without Retry-After; doubles
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True)
class LlamaParseOptions:
    """Where LlamaParse is, how to parse, and how long and how much to wait for."""

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    tier: str = "cost_effective"
    version: str = "latest"
    request_timeout_s: float = 60.0
    job_timeout_s: float = 600.0
    poll_initial_s: float = 1.0
    poll_max_s: float = 10.0
    max_result_bytes: int = 64 * MIB
    rate_limit_wait_s: float = 60.0


class _Budget:
    """The rate-limit waits one document may still spend."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        self.next_guess = FIRST_RATE_LIMIT_WAIT_S

    def wait_for(self, retry_after: float | None) -> float | None:
        """The wait before the next try, or None when it would go over the budget."""
        wait = retry_after if retry_after is not None else self.next_guess
        self.next_guess *= 2
        if wait > self.left:
            return None
        self.left -= wait
        return wait


class LlamaParseClient:
    """LlamaParse's REST API (v2) with one `httpx.AsyncClient`; `close()` when done."""

    def __init__(
        self,
        options: LlamaParseOptions,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.AsyncClient(
            base_url=options.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {options.api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(options.request_timeout_s),
            transport=transport,
            follow_redirects=False,
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def parse(self, data: bytes, media_type: str) -> list[str]:
        """The document's Markdown, one string per page (page 1 first; "" for a failed page)."""
        deadline = self._clock() + self.options.job_timeout_s
        budget = _Budget(self.options.rate_limit_wait_s)
        job = await self.upload(data, media_type, budget)
        log.info("LlamaParse job %s: %d bytes of %s uploaded", job.id, len(data), media_type)
        return await self.result(job, deadline, budget)

    async def upload(self, data: bytes, media_type: str, budget: _Budget) -> api.Job:
        """Start a parse job for the bytes."""
        configuration = {"tier": self.options.tier, "version": self.options.version}
        body = await self._call(
            "POST",
            api.UPLOAD_PATH,
            budget,
            files={"file": (_filename(media_type), data, media_type)},
            data={"configuration": msgspec.json.encode(configuration).decode()},
        )
        job = _decoded(api.decode_job, body)
        if job.status in api.ENDED:
            raise _job_failed(job)
        return job

    async def result(self, job: api.Job, deadline: float, budget: _Budget) -> list[str]:
        """Poll the job (the wait doubles up to poll_max_s) until it ends; its pages."""
        wait = self.options.poll_initial_s
        while True:
            left = deadline - self._clock()
            if left <= 0:
                raise ParseError(
                    LLAMAPARSE_TIMEOUT,
                    f"LlamaParse did not finish within {self.options.job_timeout_s:g}s (job"
                    f" {job.id}, last {job.status}); retry the job later, raise"
                    " SLUICE_LLAMAPARSE_JOB_TIMEOUT_S, or route this type to the local parser",
                )
            await self._sleep(min(wait, left))
            wait = min(wait * 2, self.options.poll_max_s)
            body = await self._call(
                "GET", api.job_path(job.id), budget, params={"expand": "markdown"}, job=job.id
            )
            answer = _decoded(api.decode_result, body)
            job = answer.job
            if job.status == api.COMPLETED:
                return _pages(job, answer.markdown)
            if job.status in api.ENDED:
                raise _job_failed(job)

    async def probe(self) -> None:
        """One cheap authenticated call (list one job): raises as a document's calls would."""
        await self._call("GET", api.JOBS_PATH, _Budget(0.0), params={"page_size": 1})

    async def _call(
        self, method: str, path: str, budget: _Budget, *, job: str | None = None, **request: Any
    ) -> bytes:
        """One API call, its 429s waited out within `budget`; the body of its 2xx answer."""
        while True:
            try:
                async with self._http.stream(method, path, **request) as response:
                    ok = response.status_code < httpx.codes.MULTIPLE_CHOICES
                    limit = self.options.max_result_bytes if ok else ERROR_BODY_BYTES
                    body = await _read(response, limit, strict=ok)
            except httpx.TimeoutException as error:
                raise ProviderUnavailableError(
                    f"{method} {path} took longer than {self.options.request_timeout_s:g}s"
                    f" ({type(error).__name__})"
                ) from error
            except httpx.TransportError as error:
                raise ProviderUnavailableError(
                    f"cannot reach {self.options.base_url}: {type(error).__name__}: {error}"
                ) from error
            status = response.status_code
            if status != httpx.codes.TOO_MANY_REQUESTS:
                if ok:
                    return body
                raise self._refusal(status, api.error_detail(body), path, job)
            retry_after = retry_after_s(response.headers.get("Retry-After"))
            wait = budget.wait_for(retry_after)
            if wait is None:
                raise ProviderUnavailableError(
                    f"rate limited (429: {api.error_detail(body)}) beyond the"
                    f" {self.options.rate_limit_wait_s:g}s a document may wait",
                    over_quota=True,
                    retry_after_s=retry_after,
                )
            log.info("LlamaParse rate limit (429) on %s; waiting %.1fs", path, wait)
            await self._sleep(wait)

    def _refusal(self, status: int, detail: str, path: str, job: str | None) -> Exception:
        """The exception for a non-2xx answer other than 429."""
        if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            return ProviderConfigurationError(
                LLAMAPARSE_UNAUTHORIZED,
                f"LlamaParse refused the API key ({status}: {detail}); set a valid key of the"
                " project in SLUICE_LLAMAPARSE_API_KEY: the parser waits, no document fails",
            )
        if status == httpx.codes.NOT_FOUND and job is not None:
            return ParseError(
                LLAMAPARSE_JOB_FAILED,
                f"LlamaParse no longer knows job {job} (404: {detail}); retry the job",
            )
        if status in (httpx.codes.NOT_FOUND, httpx.codes.METHOD_NOT_ALLOWED):
            return ProviderConfigurationError(
                LLAMAPARSE_BAD_URL,
                f"no LlamaParse API at {self.options.base_url}{path} ({status}: {detail});"
                " check SLUICE_LLAMAPARSE_BASE_URL: the parser waits, no document fails",
            )
        if status == httpx.codes.REQUEST_TIMEOUT or status >= httpx.codes.INTERNAL_SERVER_ERROR:
            return ProviderUnavailableError(f"LlamaParse answered {status}: {detail}")
        return ParseError(
            LLAMAPARSE_REJECTED,
            f"LlamaParse refused the document ({status}: {detail}); check the file, or route"
            " its type to the local parser (SLUICE_LLAMAPARSE_MEDIA_TYPES), and upload again",
        )


class LlamaParseExtractor:
    """A TextExtractor over LlamaParse; `markdown` (the sandbox) reads the Markdown it returns."""

    def __init__(self, client: LlamaParseClient, markdown: TextExtractor) -> None:
        self.client = client
        self.markdown = markdown
        self.misconfigured: ProviderConfigurationError | None = None

    async def extract(self, data: bytes, media_type: str) -> ParsedText:
        """Parse on LlamaParse, then read its Markdown pages locally."""
        if self.misconfigured is not None:
            await self._probe()
        try:
            pages = await self.client.parse(data, media_type)
        except ProviderConfigurationError as error:
            self._refused(error)
            raise
        return await self.markdown.extract(encode_markdown_pages(pages), MARKDOWN_PAGES)

    async def _probe(self) -> None:
        """Raise the configuration error again unless LlamaParse now accepts us."""
        try:
            await self.client.probe()
        except ProviderConfigurationError as error:
            self.misconfigured = error
            raise
        log.warning("LlamaParse accepts the configuration again; documents go on")
        self.misconfigured = None

    def _refused(self, error: ProviderConfigurationError) -> None:
        if self.misconfigured is None:
            log.error("LlamaParse refuses the configuration, pausing: %s", error)
        self.misconfigured = error


async def _read(response: httpx.Response, limit: int, *, strict: bool) -> bytes:
    """The body, at most `limit` bytes: beyond it a ParseError when `strict`, else cut."""
    declared = response.headers.get("Content-Length", "")
    if strict and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            if strict:
                raise _too_large(size, limit, more=True)
            parts.append(chunk[: limit - (size - len(chunk))])
            break
        parts.append(chunk)
    return b"".join(parts)


def _too_large(size: int, limit: int, *, more: bool = False) -> ParseError:
    over = "over " if more else ""
    return ParseError(
        RESULT_TOO_LARGE,
        f"LlamaParse's result is {over}{size / MIB:.1f} MiB, more than the"
        f" {limit / MIB:g} MiB read (SLUICE_LLAMAPARSE_MAX_RESULT_MB); split the document"
        " and upload the parts, or raise the limit",
    )


def _decoded(decode: Callable[[bytes], T], body: bytes) -> T:
    try:
        return decode(body)
    except msgspec.DecodeError as error:
        raise ProviderUnavailableError(
            f"LlamaParse answered something that is not its API's JSON ({error})"
        ) from None


def _job_failed(job: api.Job) -> ParseError:
    why = api.error_detail((job.error_message or "no reason given").encode())
    return ParseError(
        LLAMAPARSE_JOB_FAILED,
        f"LlamaParse job {job.id} ended {job.status}: {why}; check the file, retry the job, or"
        " route its type to the local parser (SLUICE_LLAMAPARSE_MEDIA_TYPES)",
    )


def _pages(job: api.Job, markdown: api.Markdown | None) -> list[str]:
    """Page i + 1's Markdown at index i; a failed or missing page is an empty string."""
    pages = markdown.pages if markdown is not None else []
    if any(not 1 <= page.page_number <= api.MAX_PAGE_NUMBER for page in pages):
        raise ProviderUnavailableError(f"LlamaParse job {job.id} answered a page out of range")
    read = {p.page_number: p.markdown or "" for p in pages if p.success and p.markdown is not None}
    if not read:
        errors = [p.error for p in pages if p.error]
        why = errors[0] if errors else "it returned no Markdown"
        raise _job_failed(api.Job(job.id, f"{api.COMPLETED} without a page", why))
    failed = len(pages) - len(read)
    if failed:
        log.warning("LlamaParse job %s: %d of %d pages failed", job.id, failed, len(pages))
    last = max(p.page_number for p in pages)
    return [read.get(number, "") for number in range(1, last + 1)]


def _filename(media_type: str) -> str:
    """A file name LlamaParse can tell the format by (it goes by the extension)."""
    kind = media_type.split(";", 1)[0].strip().lower()
    return "document" + SUFFIXES.get(kind, ".bin")
