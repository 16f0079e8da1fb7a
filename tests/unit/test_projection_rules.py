"""Unit tests for the job projection rules: which state an event announces, and which wins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemas import events as ev
from services.status.core.projection import (
    RANK,
    TERMINAL,
    JobState,
    fields_of,
    in_rounds,
    rank_of,
    state_of,
    timestamp_column,
    wins,
)
from tests.fixtures.cases import Case, case_ids

AT = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
BLOB = ev.BlobRef(sha256="ab" * 32, size=10, media_type="text/plain")
ENVELOPE: dict[str, Any] = {
    "event_id": "e",
    "occurred_at": AT,
    "tenant_id": "acme",
    "job_id": "j",
    "document_id": "d",
}


UPLOADED = ev.DocumentUploaded(blob=BLOB, filename="a.txt", **ENVELOPE)
PARSE_STARTED = ev.StageStarted(stage=ev.Stage.PARSE, **ENVELOPE)
EMBED_STARTED = ev.StageStarted(stage=ev.Stage.EMBED, **ENVELOPE)
INGEST_STARTED = ev.StageStarted(stage=ev.Stage.INGEST, **ENVELOPE)
PARSED = ev.DocumentParsed(text=BLOB, title="T", page_count=2, **ENVELOPE)
INDEXED = ev.DocumentIndexed(chunk_count=3, embedding_model="m", dimensions=4, **ENVELOPE)
FAILED = ev.DocumentFailed(stage=ev.Stage.EMBED, code="no_text", message="empty", **ENVELOPE)
RETRY = ev.RetryScheduled(
    stage=ev.Stage.PARSE, code="parse_timeout", message="slow", retry=2, not_before=AT, **ENVELOPE
)

STATES: list[Case[ev.AnyEvent, JobState]] = [
    Case("uploaded -> queued", UPLOADED, JobState.QUEUED),
    Case("parse started -> parsing", PARSE_STARTED, JobState.PARSING),
    Case("embed started -> embedding", EMBED_STARTED, JobState.EMBEDDING),
    Case("ingest started -> queued", INGEST_STARTED, JobState.QUEUED),
    Case("parsed -> parsed", PARSED, JobState.PARSED),
    Case("indexed -> indexed", INDEXED, JobState.INDEXED),
    Case("failed -> failed", FAILED, JobState.FAILED),
    Case("retry scheduled -> queued", RETRY, JobState.QUEUED),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", STATES, ids=case_ids(STATES))
def test_state_of(case: Case[ev.AnyEvent, JobState]) -> None:
    assert state_of(case.given) is case.expected


RANKS: list[Case[ev.AnyEvent, int]] = [
    Case("uploaded", UPLOADED, RANK[JobState.QUEUED]),
    Case("parse started", PARSE_STARTED, RANK[JobState.PARSING]),
    Case("parsed", PARSED, RANK[JobState.PARSED]),
    Case("embed started", EMBED_STARTED, RANK[JobState.EMBEDDING]),
    Case("indexed", INDEXED, RANK[JobState.INDEXED]),
    Case("failed", FAILED, RANK[JobState.FAILED]),
    Case("retry scheduled only annotates", RETRY, 0),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", RANKS, ids=case_ids(RANKS))
def test_rank_of(case: Case[ev.AnyEvent, int]) -> None:
    assert rank_of(case.given) == case.expected


@pytest.mark.unit
def test_a_retry_never_moves_a_job() -> None:
    for state in JobState:
        assert not wins((1, rank_of(RETRY)), _at(1, state))
    assert wins((1, rank_of(RETRY)), None)


@pytest.mark.unit
def test_state_of_rejects_non_events() -> None:
    with pytest.raises(TypeError, match="not a pipeline event"):
        state_of(BLOB)  # type: ignore[arg-type]


@pytest.mark.unit
def test_ranks_follow_the_pipeline_and_terminal_states_share_the_top() -> None:
    order = [JobState.QUEUED, JobState.PARSING, JobState.PARSED, JobState.EMBEDDING]
    ranks = [RANK[s] for s in order]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert RANK[JobState.INDEXED] == RANK[JobState.FAILED] > max(ranks)
    assert frozenset({JobState.INDEXED, JobState.FAILED}) == TERMINAL
    assert set(RANK) == set(JobState)


def _at(attempt: int, state: JobState) -> tuple[int, int]:
    return (attempt, RANK[state])


Attempt = tuple[int, JobState]

# Within one attempt: the later state wins, a repeat or anything after a terminal state loses.
SAME_ATTEMPT: list[Case[tuple[JobState, JobState], bool]] = [
    Case("parsed after parsing", (JobState.PARSED, JobState.PARSING), True),
    Case("late parsing after parsed", (JobState.PARSING, JobState.PARSED), False),
    Case("late upload after indexed", (JobState.QUEUED, JobState.INDEXED), False),
    Case("replay of the same state", (JobState.PARSED, JobState.PARSED), False),
    Case("failed after indexed", (JobState.FAILED, JobState.INDEXED), False),
    Case("indexed after failed", (JobState.INDEXED, JobState.FAILED), False),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", SAME_ATTEMPT, ids=case_ids(SAME_ATTEMPT))
def test_wins_within_an_attempt(case: Case[tuple[JobState, JobState], bool]) -> None:
    new, current = case.given
    assert wins(_at(1, new), _at(1, current)) is case.expected


# Across attempts: the later attempt wins whatever the states.
ACROSS_ATTEMPTS: list[Case[tuple[Attempt, Attempt], bool]] = [
    Case("retry's queued beats failed", ((2, JobState.QUEUED), (1, JobState.FAILED)), True),
    Case("retry's parsing beats indexed", ((2, JobState.PARSING), (1, JobState.INDEXED)), True),
    Case("old indexed loses to the retry", ((1, JobState.INDEXED), (2, JobState.QUEUED)), False),
    Case("old failed loses to a retry", ((1, JobState.FAILED), (3, JobState.PARSING)), False),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", ACROSS_ATTEMPTS, ids=case_ids(ACROSS_ATTEMPTS))
def test_wins_across_attempts(case: Case[tuple[Attempt, Attempt], bool]) -> None:
    new, current = case.given
    assert wins(_at(*new), _at(*current)) is case.expected


@pytest.mark.unit
def test_the_first_event_for_a_job_wins() -> None:
    assert wins(_at(1, JobState.PARSING), None) is True


@pytest.mark.unit
def test_any_delivery_order_ends_in_the_furthest_state() -> None:
    events = [(1, JobState.QUEUED), (1, JobState.PARSING), (1, JobState.PARSED),
              (1, JobState.EMBEDDING), (1, JobState.INDEXED)]  # fmt: skip
    for shift in range(len(events)):
        current: tuple[int, int] | None = None
        for attempt, state in events[shift:] + events[:shift]:
            if wins(_at(attempt, state), current):
                current = _at(attempt, state)
        assert current == _at(1, JobState.INDEXED)


FIELDS: list[Case[ev.AnyEvent, dict[str, Any]]] = [
    Case(
        "uploaded fills file facts",
        UPLOADED,
        {"filename": "a.txt", "media_type": "text/plain", "size": 10},
    ),
    Case("stage started fills nothing", PARSE_STARTED, {}),
    Case("parsed fills title and pages", PARSED, {"title": "T", "page_count": 2, "parser": None}),
    Case(
        "indexed fills chunks, model and usage",
        INDEXED,
        {"chunk_count": 3, "embedding_model": "m", "usage": None},
    ),
    Case(
        "failed fills the error",
        FAILED,
        {"error_stage": "embed", "error_code": "no_text", "error_message": "empty"},
    ),
    Case(
        "retry scheduled fills the retry columns",
        RETRY,
        {
            "retries": 2,
            "next_retry_at": AT,
            "last_error_code": "parse_timeout",
            "last_error_message": "slow",
        },
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", FIELDS, ids=case_ids(FIELDS))
def test_fields_of(case: Case[ev.AnyEvent, dict[str, Any]]) -> None:
    assert fields_of(case.given) == case.expected


@pytest.mark.unit
@pytest.mark.parametrize("state", list(JobState), ids=str)
def test_every_state_has_a_timestamp_column(state: JobState) -> None:
    assert timestamp_column(state) == f"{state.value}_at"


@pytest.mark.unit
def test_in_rounds_puts_each_key_once_per_round_in_order() -> None:
    rows = [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("c", 1), ("b", 2)]
    rounds = in_rounds(rows, key=lambda row: row[0])
    assert rounds == [[("a", 1), ("b", 1), ("c", 1)], [("a", 2), ("b", 2)], [("a", 3)]]
    assert in_rounds([], key=str) == []
