"""What one pipeline event means for the windows: a stage started, finished or failed a job."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

from schemas.events import (
    AnyEvent,
    DocumentFailed,
    DocumentIndexed,
    DocumentParsed,
    Stage,
    StageStarted,
)

PROJECT = "project"  # the status projector: every event on its topics is one it projects
ENDS: dict[type, str] = {DocumentParsed: Stage.PARSE.value, DocumentIndexed: Stage.EMBED.value}
TIMED = frozenset(ENDS.values())


class Observation(msgspec.Struct, frozen=True, kw_only=True):
    """One thing a stage did to a job, at `at` (the event's `occurred_at`, epoch seconds)."""

    kind: Literal["start", "done", "failed"]
    stage: str
    tenant_id: str
    job_id: str
    at: float


class Timing(msgspec.Struct, kw_only=True):
    """A job's start and end at one stage, whichever came first (the topics are not ordered
    with each other: a `DocumentParsed` may be read before its `StageStarted`)."""

    start: float | None = None
    end: float | None = None
    tenant_id: str = ""
    noted: float = 0.0  # wall clock when pipestats first saw a half (0: unknown, before it)

    def took(self) -> float | None:
        """Seconds from start to end once both are known (never negative)."""
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)


def stale(timings: Iterable[tuple[str, Timing]], now: float, keep_s: float) -> list[str]:
    """The keys of timings noted more than `keep_s` seconds before `now`: halves whose other
    half never came (a job deleted mid-stage, an event lost to a DLQ) or no longer will."""
    return [key for key, timing in timings if now - timing.noted > keep_s]


def observations(event: AnyEvent) -> list[Observation]:
    """The stage starts, finishes and failures `event` records, and its projection."""
    at = event.occurred_at.timestamp()
    seen = [
        Observation(
            kind="done",
            stage=PROJECT,
            tenant_id=event.tenant_id,
            job_id=event.job_id,
            at=at,
        )
    ]
    stage: str | None = None
    kind: Literal["start", "done", "failed"] = "done"
    if isinstance(event, StageStarted) and event.stage.value in TIMED:
        stage, kind = event.stage.value, "start"
    elif isinstance(event, DocumentFailed) and event.stage.value in TIMED:
        stage, kind = event.stage.value, "failed"
    elif type(event) in ENDS:
        stage = ENDS[type(event)]
    if stage is None:
        return seen
    own = Observation(kind=kind, stage=stage, tenant_id=event.tenant_id, job_id=event.job_id, at=at)
    return [own, *seen]
