"""LlamaParse's REST API (v2) as it is documented: paths, job states and the JSON we read.

- `POST /api/v2/parse/upload`: multipart/form-data with `file` and `configuration` (a JSON
  string: `tier`, `version`, options); answers the job (`id`, `status`, ...).
- `GET /api/v2/parse/{job_id}?expand=markdown`: `{"job": {...}, "markdown": {"pages": [...]}}`;
  the Markdown is there once `job.status` is COMPLETED. A page is `{page_number, markdown,
  success: true}` or `{page_number, error, success: false}`.
- `GET /api/v2/parse?page_size=1`: lists jobs; the cheapest authenticated call (our probe).

Every call sends `Authorization: Bearer <key>`. Errors come as JSON `{"detail": ...}`.
Unknown fields are ignored, so additions to the API do not break the client.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

UPLOAD_PATH: Final = "/api/v2/parse/upload"
JOBS_PATH: Final = "/api/v2/parse"
PENDING: Final = "PENDING"
RUNNING: Final = "RUNNING"
COMPLETED: Final = "COMPLETED"
FAILED: Final = "FAILED"
CANCELLED: Final = "CANCELLED"
ENDED: Final = frozenset({FAILED, CANCELLED})
MAX_PAGE_NUMBER: Final = 100_000  # a page number beyond it is a broken answer, not a page
MAX_DETAIL_CHARS: Final = 300


def job_path(job_id: str) -> str:
    """The path of one job (its status, and its results with `expand`)."""
    return f"{JOBS_PATH}/{job_id}"


class Job(msgspec.Struct, frozen=True):
    """A parse job: what the upload answers, and `job` in a job's GET."""

    id: str
    status: str = PENDING
    error_message: str | None = None


class Page(msgspec.Struct, frozen=True):
    """One page of the Markdown result; a failed page has `error` instead of `markdown`."""

    page_number: int
    markdown: str | None = None
    success: bool = True
    error: str | None = None


class Markdown(msgspec.Struct, frozen=True):
    """The `markdown` expansion of a job."""

    pages: list[Page] = msgspec.field(default_factory=list)


class JobResult(msgspec.Struct, frozen=True):
    """A job's GET: the job, and its Markdown once asked for (`expand=markdown`) and done."""

    job: Job
    markdown: Markdown | None = None


class _Error(msgspec.Struct, frozen=True):
    detail: Any = None


_JOB: Final = msgspec.json.Decoder(Job)
_RESULT: Final = msgspec.json.Decoder(JobResult)
_ERROR: Final = msgspec.json.Decoder(_Error)


def decode_job(body: bytes) -> Job:
    """The upload's answer; raises msgspec.DecodeError when it is not one."""
    return _JOB.decode(body)


def decode_result(body: bytes) -> JobResult:
    """A job's GET; raises msgspec.DecodeError when it is not one."""
    return _RESULT.decode(body)


def error_detail(body: bytes) -> str:
    """What an error answer says, short: its `detail`, else the start of the body."""
    try:
        detail = _ERROR.decode(body).detail
    except msgspec.DecodeError:
        detail = None
    if detail is None:
        text = body.decode(errors="replace")
    elif isinstance(detail, str):
        text = detail
    else:
        text = msgspec.json.encode(detail).decode()
    text = " ".join(text.split())
    if len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 1] + "…"
    return text or "no detail"
