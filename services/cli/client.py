"""The HTTP client of `sluice`: ingest and status over httpx, errors as exit codes."""

from __future__ import annotations

import asyncio
import io
import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import msgspec

from services.cli.config import CliConfig
from services.cli.exits import CliError, Exit, exit_for_status
from services.cli.models import Job, JobPage, SearchResult
from services.common.api_bodies import (
    DeadLetterPage,
    DeadLetterView,
    Deletion,
    Redrive,
    UploadAccepted,
)
from services.common.retry_after import retry_after_s
from services.common.vectors.admin import Activation, Pruning, Reprocessing, TenantSets

T = TypeVar("T")
ADMIN_TIMEOUT_S = 600  # a reprocess publishes one event per document before it answers
USER_AGENT = "sluice-cli/0.1.0"
UPLOAD_ATTEMPTS = 3  # a retry carries the same Idempotency-Key: it returns the same job
REFUSED_ATTEMPTS = 10  # 429/503 with Retry-After (a tenant's limit, a full replica): come back
MAX_RETRY_AFTER_S = 60.0
MAX_PAGE = 500  # GET /v1/jobs answers at most this many per page


class ApiError(CliError):
    """A service answered with an error; `status` and the problem's `detail` say which."""

    def __init__(self, status: int, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{status}: {detail}", exit_for_status(status))
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s  # the answer's Retry-After, when it had one


def _problem(response: httpx.Response) -> ApiError:
    detail = response.reason_phrase or "error"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or detail)
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            detail += " (" + "; ".join(str(e.get("message", e)) for e in errors[:3]) + ")"
    return ApiError(
        response.status_code, detail, retry_after_s(response.headers.get("Retry-After"))
    )


class _Counted(io.FileIO):
    """A file whose reads report how far they got (httpx streams multipart from it)."""

    def __init__(self, path: Path, report: Callable[[int], None]) -> None:
        super().__init__(path, "rb")
        self._report = report

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self._report(self.tell())
        return chunk or b""


class Api:
    """Ingest and status for one token; use as an async context manager."""

    def __init__(
        self, config: CliConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.http = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {config.token}", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(60, connect=10),
            transport=transport,
        )

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.http.aclose()

    def status(self, path: str) -> str:
        """The status service's URL for `path`."""
        return f"{self.config.status_url}{path}"

    async def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """Send; CliError (exit 3) when the service does not answer, ApiError on an error."""
        try:
            response = await self.http.request(method, url, **options)
        except httpx.TransportError as error:
            where = httpx.URL(url).copy_with(path="/", query=None)
            raise CliError(
                f"{where} did not answer ({type(error).__name__}: {error or 'no detail'})",
                Exit.UNREACHABLE,
            ) from error
        if response.is_error:
            raise _problem(response)
        return response

    async def _get(self, url: str, kind: type[T], **options: Any) -> T:
        response = await self.request("GET", url, **options)
        return msgspec.json.decode(response.content, type=kind)

    async def upload(
        self,
        path: Path,
        *,
        metadata: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        progress: Callable[[int], None] = lambda _sent: None,
    ) -> UploadAccepted:
        """POST one file to ingest; retries a lost answer with the same Idempotency-Key."""
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        data = {"metadata": json.dumps(metadata)} if metadata else None
        attempt = refused = 0
        while True:
            try:
                with _Counted(path, progress) as file:
                    response = await self.request(
                        "POST",
                        f"{self.config.ingest_url}/v1/documents",
                        files={"file": (path.name, file, media)},
                        data=data,
                        headers=headers,
                    )
                return msgspec.json.decode(response.content, type=UploadAccepted)
            except ApiError as error:
                # told to come back later: a 429 stored nothing; a 503 may have stored the
                # upload (its outbox publishes it), so only a keyed retry is safe (same job)
                later = error.retry_after_s is not None and (
                    error.status == 429 or (error.status == 503 and idempotency_key is not None)
                )
                refused += 1
                if not later or refused >= REFUSED_ATTEMPTS:
                    raise
                await asyncio.sleep(min(error.retry_after_s or 0.0, MAX_RETRY_AFTER_S))
            except CliError as error:
                attempt += 1
                if error.exit != Exit.UNREACHABLE or not idempotency_key:
                    raise
                if attempt >= UPLOAD_ATTEMPTS:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)

    async def job(self, job_id: str) -> Job:
        """One job of the caller's tenant."""
        return await self._get(self.status(f"/v1/jobs/{job_id}"), Job)

    async def jobs(self, *, state: str | None = None, limit: int = 50) -> list[Job]:
        """Up to `limit` jobs, newest first (as many pages as it takes)."""
        found: list[Job] = []
        cursor: str | None = None
        while len(found) < limit:
            params: dict[str, Any] = {"limit": min(MAX_PAGE, limit - len(found))}
            if state:
                params["state"] = state
            if cursor:
                params["cursor"] = cursor
            page = await self._get(self.status("/v1/jobs"), JobPage, params=params)
            found += page.jobs
            cursor = page.next_cursor
            if cursor is None:
                break
        return found

    async def search(self, query: str, top_k: int, wait_s: float = 60) -> SearchResult:
        """Ranked chunks; waits up to `wait_s` while the search model loads (503)."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            try:
                response = await self.request(
                    "POST", self.status("/v1/search"), json={"query": query, "top_k": top_k}
                )
            except ApiError as error:
                if error.status != 503 or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(1)
                continue
            return msgspec.json.decode(response.content, type=SearchResult)

    async def retry(self, job_id: str) -> Redrive:
        """Re-drive a failed job from the stage that failed."""
        response = await self.request("POST", self.status(f"/v1/jobs/{job_id}/retry"))
        return msgspec.json.decode(response.content, type=Redrive)

    async def delete(self, document_id: str) -> Deletion:
        """Delete a document (its blobs, chunks and jobs); a repeat removes nothing more."""
        response = await self.request("DELETE", self.status(f"/v1/documents/{document_id}"))
        return msgspec.json.decode(response.content, type=Deletion)

    async def dead_letters(
        self, *, topic: str | None = None, limit: int = 50
    ) -> list[DeadLetterView]:
        """The newest dead-lettered records the caller may see."""
        params: dict[str, Any] = {"limit": limit}
        if topic:
            params["topic"] = topic
        page = await self._get(self.status("/v1/dead-letters"), DeadLetterPage, params=params)
        return page.records

    async def dead_letter(self, ref: str) -> DeadLetterView:
        """One dead-lettered record with its payload; `ref` is TOPIC/PARTITION/OFFSET."""
        return await self._get(self.status(f"/v1/dead-letters/{ref}"), DeadLetterView)

    async def _post(self, path: str, body: dict[str, Any], kind: type[T]) -> T:
        response = await self.request("POST", self.status(path), json=body, timeout=ADMIN_TIMEOUT_S)
        return msgspec.json.decode(response.content, type=kind)

    async def reprocess(self, body: dict[str, Any]) -> Reprocessing:
        """Re-run a tenant's documents into a new vector set (admin:replay)."""
        return await self._post("/v1/admin/reprocess", body, Reprocessing)

    async def activate(self, body: dict[str, Any]) -> Activation:
        """Switch a tenant's search to a vector set (admin:replay)."""
        return await self._post("/v1/admin/vector-sets/activate", body, Activation)

    async def prune(self, *, dry_run: bool, force: bool) -> Pruning:
        """Drop the vector sets no tenant searches (admin:replay)."""
        body = {"dry_run": dry_run, "force": force}
        return await self._post("/v1/admin/vector-sets/prune", body, Pruning)

    async def vector_sets(self, tenant: str) -> TenantSets:
        """Every vector set, with the tenant's share of it (admin:replay)."""
        url = self.status("/v1/admin/vector-sets")
        return await self._get(url, TenantSets, params={"tenant_id": tenant})
