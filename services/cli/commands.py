"""`sluice jobs|status|search|dlq`: read the pipeline's state, search, re-drive failures."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli.client import Api, ApiError
from services.cli.exits import CliError, Exit
from services.cli.follow import Tracker, follow_with_timeout, progress_rank
from services.cli.models import STAGES, Job
from services.cli.output import (
    Output,
    duration,
    escape_markup,
    reason,
    seconds,
    stage_times,
    styled_state,
)
from services.common.api_bodies import DeadLetterView

TIMELINE = (*STAGES[:-1], "indexed", "failed")


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


async def jobs(api: Api, out: Output, *, state: str | None, limit: int) -> int:
    """List the tenant's jobs, newest first, with per-stage timings and failure reasons."""
    found = await api.jobs(state=state, limit=limit)
    if out.json_mode:
        out.json({"jobs": found})
        return Exit.OK
    rows = []
    for job in found:
        times = stage_times(job)
        rows.append(
            (
                job.job_id,
                escape_markup(job.filename or "-"),
                styled_state(job.state),
                duration(times["parse"]),
                duration(times["embed"]),
                duration(times["total"]),
                _when(job.updated_at),
                escape_markup(reason(job)),
            )
        )
    title = f"Jobs ({state})" if state else "Jobs"
    columns = ("job", "file", "state", "parse", "embed", "total", "updated", "reason")
    out.table(title, columns, rows)
    if not found:
        out.note("no jobs")
    return Exit.OK


def _timeline(job: Job) -> list[tuple[str, datetime, float | None]]:
    """(state, when, seconds since the previous one) for each state the job reached."""
    rows: list[tuple[str, datetime, float | None]] = []
    previous: datetime | None = None
    for state in TIMELINE:
        at = job.timestamps.get(f"{state}_at")
        if at is not None:
            rows.append((state, at, seconds(previous, at)))
            previous = at
    return rows


APPEAR_POLL_S = 0.5  # `status --watch` of a job the status service has not seen yet


async def status(api: Api, out: Output, job_id: str, *, watch: bool, timeout_s: float) -> int:
    """One job: its state, timeline and error; `watch` follows it until it ends."""
    if not watch:
        job = await api.job(job_id)
    else:
        started = asyncio.get_running_loop().time()
        job = await _appeared(api, out, job_id, timeout_s)
        if job.state not in ("indexed", "failed"):
            spent = asyncio.get_running_loop().time() - started
            job = await _watch(api, out, job, max(timeout_s - spent, 0.0))
    if out.json_mode:
        out.json(job)
    else:
        title = f"Job {job.job_id} · {escape_markup(job.filename or '?')} · attempt {job.attempt}"
        rows = [
            (styled_state(state), _when(at), duration(since)) for state, at, since in _timeline(job)
        ]
        out.table(title, ("state", "at", "after"), rows)
        facts = [f"state {styled_state(job.state)}", f"document {job.document_id}"]
        if job.chunk_count is not None:
            facts.append(f"{job.chunk_count} chunks ({job.embedding_model})")
        out.console.print(" · ".join(facts))
        if reason(job):
            out.console.print(f"[red]reason:[/red] {escape_markup(reason(job))}")
    if job.state == "failed":
        return Exit.FAILED
    return Exit.OK if job.state == "indexed" or not watch else Exit.TIMEOUT


async def _appeared(api: Api, out: Output, job_id: str, timeout_s: float) -> Job:
    """The job, once the status service has projected it: a job id the upload just answered
    is 404 until its first event is read (as `upload --watch` treats it); after `timeout_s`
    still 404 (exit 5), as without --watch."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    with contextlib.ExitStack() as stack:
        waiting = False
        while True:
            try:
                return await api.job(job_id)
            except ApiError as error:
                if error.status != 404 or asyncio.get_running_loop().time() >= deadline:
                    raise
            if not waiting:
                stack.enter_context(out.spinner(f"waiting for the status service to see {job_id}"))
                waiting = True
            await asyncio.sleep(APPEAR_POLL_S)


async def _watch(api: Api, out: Output, job: Job, timeout_s: float) -> Job:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=30),
        TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(),
        console=out.errors,
        disable=out.json_mode,
    )
    task = progress.add_task(job.job_id, total=len(STAGES), what=job.state)

    def show(seen: Job) -> None:
        done = progress_rank(seen)[1] + 1
        progress.update(task, completed=done, what=styled_state(seen.state))

    tracker = Tracker(show)
    added = asyncio.Event()
    added.set()
    with progress:
        tracker.add(job)
        await follow_with_timeout(api, tracker, added, timeout_s)
    return tracker.jobs[job.job_id]


async def search(api: Api, out: Output, query: str, *, top_k: int) -> int:
    """Semantic search with citations: file, page, heading."""
    with out.spinner("searching (the model may still be loading)"):
        found = await api.search(query, top_k)
    if out.json_mode:
        out.json(found)
        return Exit.OK
    rows = []
    for rank, hit in enumerate(found.results, 1):
        where = escape_markup(hit.filename or hit.document_id)
        if hit.page is not None:
            where += f", p. {hit.page}"
        if hit.heading:
            where += f"\n§ {escape_markup(hit.heading)}"
        text = " ".join(hit.text.split())
        snippet = text if len(text) <= 240 else text[:239] + "…"
        rows.append((str(rank), f"{hit.score:.3f}", where, escape_markup(snippet)))
    out.table(f"Search: {escape_markup(query)}", ("#", "score", "source", "text"), rows)
    if not found.results:
        out.note("no matches: nothing indexed yet for this tenant?")
    return Exit.OK


async def dlq_list(api: Api, out: Output, *, topic: str | None, limit: int) -> int:
    """The newest dead-lettered records the caller may see."""
    records = await api.dead_letters(topic=topic, limit=limit)
    if out.json_mode:
        out.json({"records": records})
        return Exit.OK
    rows = [
        (
            record.ref,
            _when(record.timestamp),
            record.stage or "-",
            escape_markup(": ".join(p for p in (record.code, record.message) if p)),
            record.job_id or "-",
        )
        for record in records
    ]
    out.table("Dead letters", ("ref", "at", "stage", "reason", "job"), rows)
    if not records:
        out.note("no dead letters")
    return Exit.OK


async def dlq_show(api: Api, out: Output, ref: str) -> int:
    """One dead-lettered record with its headers and payload."""
    record = await api.dead_letter(ref)
    if out.json_mode:
        out.json(record)
        return Exit.OK
    rows = [
        (name, escape_markup(str(value)))
        for name, value in _fields(record)
        if value is not None and name != "value"
    ]
    out.table(f"Dead letter {record.ref}", ("field", "value"), rows)
    out.console.print(escape_markup(record.value or "(no payload)"), soft_wrap=True)
    return Exit.OK


def _fields(record: DeadLetterView) -> list[tuple[str, object]]:
    return [(name, getattr(record, name)) for name in record.__struct_fields__]


async def dlq_retry(api: Api, out: Output, target: str) -> int:
    """Re-drive the job of a dead letter (TOPIC/PARTITION/OFFSET) or a job id."""
    job_id = target
    if "/" in target:
        record = await api.dead_letter(target)
        if record.job_id is None:
            raise CliError(
                f"{target} is not a pipeline event (no job id): it cannot be re-driven;"
                " `sluice dlq show` prints it",
                Exit.REFUSED,
            )
        job_id = record.job_id
    redrive = await api.retry(job_id)
    out.answer(
        redrive,
        f"job {redrive.job_id}: attempt {redrive.attempt} restarts at"
        f" {redrive.restarted_stage} ({redrive.state});"
        f" follow it with `sluice status {redrive.job_id} --watch`",
    )
    return Exit.OK
