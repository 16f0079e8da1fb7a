"""Batch services lower their CPU priority, their autogroup's too when they lead a session."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra.local import REPO_ROOT
from services.common.priority import AUTOGROUP

pytestmark = pytest.mark.unit

_CHILD = (
    "import os; from services.common.priority import AUTOGROUP, lower_cpu_priority;"
    " lower_cpu_priority(3);"
    " print(os.nice(0)); print(AUTOGROUP.read_text().split()[-1] if AUTOGROUP.exists() else '')"
)


def _child(*, own_session: bool) -> tuple[int, str]:
    """(nice value, autogroup nice value) of a child after `lower_cpu_priority(3)`."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        start_new_session=own_session,
    )
    nice, group = done.stdout.splitlines()
    return int(nice), group


def _own_group() -> str:
    return AUTOGROUP.read_text().split()[-1] if AUTOGROUP.exists() else ""


def test_a_session_leader_lowers_its_autogroup_with_its_nice_value() -> None:
    base = os.nice(0)

    nice, group = _child(own_session=True)

    assert nice == min(base + 3, 19)
    if AUTOGROUP.exists():  # a kernel with CONFIG_SCHED_AUTOGROUP (this one's CI has it)
        assert group == str(nice), "the session's group yields too, or nice means nothing"


def test_a_process_that_does_not_lead_its_session_leaves_the_group_alone() -> None:
    before = _own_group()

    nice, group = _child(own_session=False)

    assert nice == min(os.nice(0) + 3, 19)
    assert group == before == _own_group(), "the shell's (here: pytest's) group is not ours"
