"""A stage's verdict from successive samples of its group: instances, lag, committed offsets;
and the records behind a group, as the view and the gauges count them."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from services.status.adapters.groups import Ends, committed_offset
from services.status.core.verdict import Progress, Verdict, verdict
from tests.fixtures.cases import Case, case_ids

pytestmark = pytest.mark.unit

STALL_S = 30.0
# given: (instances, [(time, committed, lag), ...] samples, time asked); expected verdict
CASES: list[Case[tuple[int, list[tuple[float, int, int]], float], Verdict]] = [
    Case("no instance is down, lag or not", (0, [(0, 5, 3)], 100), Verdict.DOWN),
    Case("no lag is ok", (1, [(0, 5, 0), (50, 5, 0)], 100), Verdict.OK),
    Case("lag just seen is waiting", (1, [(0, 5, 0), (90, 5, 4)], 100), Verdict.WAITING),
    Case(
        "lag with commits within the stall time is waiting",
        (2, [(0, 5, 4), (40, 7, 4), (80, 9, 6)], 100),
        Verdict.WAITING,
    ),
    Case(
        "lag without a commit for the stall time is stuck",
        (1, [(0, 5, 0), (10, 5, 4), (40, 5, 4)], 45),
        Verdict.STUCK,
    ),
    Case(
        "a commit long ago does not excuse lag that came later",
        (1, [(0, 5, 0), (10, 9, 0), (60, 9, 2)], 95),
        Verdict.STUCK,
    ),
    Case(
        "stuck, then a commit: waiting again",
        (1, [(0, 5, 4), (40, 5, 4), (50, 6, 3)], 55),
        Verdict.WAITING,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_verdict(case: Case[tuple[int, list[tuple[float, int, int]], float], Verdict]) -> None:
    instances, samples, now = case.given
    progress = Progress()
    for at, committed, lag in samples:
        progress.observe(committed, lag, at)
    assert verdict(instances, samples[-1][2], progress, now, STALL_S) is case.expected


@pytest.mark.parametrize(
    ("committed", "behind"),
    [
        (None, 8),  # never committed: it resumes at the log start (2), not at 0
        (-1, 8),  # Kafka's "none"
        (1, 8),  # a commit the log start has passed: it resumes at the log start
        (6, 4),
        (10, 0),
        (12, 0),  # past the end (a topic recreated): nothing behind, never negative
    ],
)
def test_records_behind_count_from_where_a_group_resumes(
    committed: int | None, behind: int
) -> None:
    tp = TopicPartition("t", 0)
    ends = Ends(starts={tp: 2}, ends={tp: 10})
    found = {} if committed is None else {tp: OffsetAndMetadata(committed, "")}
    assert ends.behind(tp, found) == behind
    assert committed_offset(found.get(tp)) == (None if committed in (None, -1) else committed)
