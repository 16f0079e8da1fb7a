"""`sluice upload PATH... [--watch]`: files and folders, concurrently, with progress bars."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column

from services.cli.client import Api, ApiError
from services.cli.exits import CliError, Exit
from services.cli.follow import Tracker, follow_with_timeout, progress_rank
from services.cli.models import STAGES, TERMINAL, Job, JobError
from services.cli.output import Output, escape_markup, reason, styled_state

UNITS = 1 + len(STAGES)  # a file's share of the overall bar: its upload, then each stage
NAME_WIDTH = 32  # of a file's name in the live display
WHY_WIDTH = 80  # of a reason there (the summary shows all of it)
MANY = 15  # above this many files, finished ones leave the live display (the table keeps them)


class UploadResult(msgspec.Struct, frozen=True, kw_only=True):
    """One file's outcome, as the summary and --json show it."""

    path: str
    state: str  # a job state, or `rejected` when ingest refused the upload
    job_id: str | None = None
    document_id: str | None = None
    chunk_count: int | None = None
    error: JobError | None = None


class UploadSummary(msgspec.Struct, frozen=True):
    """What `sluice upload --json` prints."""

    jobs: list[UploadResult]
    followed: str | None  # events | polling | timeout; None without --watch


def collect(paths: Iterable[str]) -> list[Path]:
    """The files named, and those under the folders named (hidden ones skipped), in order."""
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path))
        else:
            raise CliError(f"{text}: no such file or folder", Exit.USAGE)
    unique = list(dict.fromkeys(found))
    if not unique:
        raise CliError("nothing to upload: the folders are empty", Exit.USAGE)
    return unique


def _hidden(path: Path, under: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(under).parts)


@dataclass
class _File:
    path: Path
    size: int
    task: TaskID | None = None
    sent: int = 0
    job: Job | None = None
    refused: ApiError | None = None
    units: float = field(default=0.0)


class _Board:
    """The live display: a bar per file and one overall; no-op in --json mode."""

    def __init__(self, files: list[_File], out: Output) -> None:
        self.files = files
        self.by_job: dict[str, _File] = {}
        self.progress: Progress | None = None
        if not out.json_mode:
            width = min(NAME_WIDTH, max(len(f.path.name) for f in files))
            self.progress = Progress(
                TextColumn(
                    "{task.description}",
                    style="bold",
                    table_column=Column(no_wrap=True, min_width=width, max_width=NAME_WIDTH),
                ),
                BarColumn(bar_width=30),
                TimeElapsedColumn(),
                TextColumn("{task.fields[what]}", table_column=Column(no_wrap=True, ratio=1)),
                console=out.errors,
                transient=False,
                expand=True,
            )
            self.overall = self.progress.add_task("overall", total=len(files) * UNITS, what="")
            for item in files:
                name = escape_markup(item.path.name.ljust(width))
                item.task = self.progress.add_task(name, total=max(item.size, 1), what="waiting")

    def __enter__(self) -> _Board:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.progress is not None:
            self._overall()
            self.progress.stop()

    def sent(self, item: _File, count: int) -> None:
        item.sent = count
        item.units = min(1.0, count / max(item.size, 1))
        if self.progress is not None and item.task is not None:
            what = f"{_size(count)}/{_size(item.size)}"
            self.progress.update(item.task, completed=count, what=what)
            self._overall()

    def refused(self, item: _File, error: ApiError) -> None:
        item.refused = error
        item.units = UNITS
        why = escape_markup(_clip(error.detail))
        self._show(item, len(STAGES), f"[red]rejected[/red] {why}")

    def job(self, job: Job) -> None:
        item = self.by_job.get(job.job_id)
        if item is None:
            return
        item.job = job
        done = progress_rank(job)[1] + 1
        item.units = UNITS if job.state in TERMINAL else 1 + done
        what = styled_state(job.state)
        if job.state == "failed":
            what += f" {escape_markup(_clip(reason(job)))}"
        elif job.state == "indexed":
            count = job.chunk_count or 0
            what += f" · {count} chunk{'' if count == 1 else 's'}"
        self._show(item, done, what)

    def _show(self, item: _File, done: int, what: str) -> None:
        if self.progress is None or item.task is None:
            return
        self.progress.reset(item.task, total=len(STAGES), completed=done, what=what)
        ended = item.refused is not None or (item.job is not None and item.job.state in TERMINAL)
        if ended and len(self.files) > MANY:
            self.progress.update(item.task, visible=False)
        self._overall()

    def _overall(self) -> None:
        if self.progress is None:
            return
        uploaded = sum(1 for f in self.files if f.job is not None)
        ended = [f for f in self.files if f.refused or (f.job and f.job.state in TERMINAL)]
        failed = sum(1 for f in ended if f.refused or (f.job and f.job.state == "failed"))
        total = len(self.files)
        what = f"{uploaded}/{total} uploaded · {len(ended)}/{total} ended"
        if failed:
            what += f" · [red]{failed} failed[/red]"
        completed = sum(f.units for f in self.files)
        self.progress.update(self.overall, completed=completed, what=what)


def _clip(text: str) -> str:
    return text if len(text) <= WHY_WIDTH else text[: WHY_WIDTH - 1] + "…"


def _size(count: int) -> str:
    """`512B`, `12.3KB`, `4.5MB`."""
    if count < 1024:
        return f"{count}B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f}KB"
    return f"{count / 1024 / 1024:.1f}MB"


async def run_upload(
    api: Api,
    out: Output,
    paths: list[str],
    *,
    metadata: dict[str, str],
    watch: bool,
    concurrency: int,
    timeout_s: float | None,
) -> int:
    """Upload `paths`, follow the jobs when `watch`, print the summary; the exit code."""
    files = [_File(path, path.stat().st_size) for path in collect(paths)]
    board = _Board(files, out)
    tracker = Tracker(board.job)
    uploads_done = asyncio.Event()
    gate = asyncio.Semaphore(concurrency)

    async def send(item: _File) -> None:
        async with gate:
            try:
                accepted = await api.upload(
                    item.path,
                    metadata=metadata,
                    idempotency_key=f"sluice-cli-{uuid.uuid4()}",
                    progress=lambda count: board.sent(item, count),
                )
            except ApiError as error:
                if error.exit in (Exit.UNAUTHORIZED, Exit.UNREACHABLE):
                    raise  # every other file would meet it too
                board.refused(item, error)
                return
        job = Job(
            job_id=accepted.job_id,
            document_id=accepted.document_id,
            state=accepted.status,
            filename=item.path.name,
        )
        board.by_job[job.job_id] = item
        tracker.add(job)

    async def send_all() -> None:
        try:
            await asyncio.gather(*(send(item) for item in files))
        finally:
            uploads_done.set()

    followed: str | None = None
    with board:
        if watch:
            sending = asyncio.create_task(send_all())
            followed, _ = await follow_with_timeout(api, tracker, uploads_done, timeout_s)
            await sending
        else:
            await send_all()
    results = [_result(item) for item in files]
    if out.json_mode:
        out.json(UploadSummary(jobs=results, followed=followed))
    else:
        _summary(out, results, watch)
    return _exit(results, watch)


def _result(item: _File) -> UploadResult:
    if item.refused is not None:
        error = JobError("upload", str(item.refused.status), item.refused.detail)
        return UploadResult(path=str(item.path), state="rejected", error=error)
    job = item.job
    if job is None:  # never uploaded: another file's fatal error stopped the run
        return UploadResult(path=str(item.path), state="not sent")
    return UploadResult(
        path=str(item.path),
        state=job.state,
        job_id=job.job_id,
        document_id=job.document_id,
        chunk_count=job.chunk_count,
        error=job.error,
    )


def _summary(out: Output, results: list[UploadResult], watch: bool) -> None:
    rows = []
    for result in results:
        why = ""
        if result.error is not None:
            why = ": ".join(p for p in (result.error.code, result.error.message) if p)
        chunks = "" if result.chunk_count is None else str(result.chunk_count)
        rows.append(
            (
                escape_markup(result.path),
                result.job_id or "-",
                styled_state(result.state),
                chunks,
                escape_markup(why),
            )
        )
    title = "Jobs" if watch else "Uploads (follow them with `sluice status JOB --watch`)"
    out.table(title, ("file", "job", "state", "chunks", "reason"), rows)


def _exit(results: list[UploadResult], watch: bool) -> int:
    if any(r.state in ("failed", "rejected") for r in results):
        return Exit.FAILED
    if watch and any(r.state not in TERMINAL for r in results):
        return Exit.TIMEOUT
    return Exit.OK
