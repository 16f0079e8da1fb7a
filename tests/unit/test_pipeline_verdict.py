"""A stage's verdict from successive samples of its group: instances, lag, committed offsets."""

from __future__ import annotations

import pytest

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
