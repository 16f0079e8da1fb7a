"""Batch services lower their CPU priority, their autogroup's too when they lead a session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local import REPO_ROOT
from services.common import priority
from services.common.priority import autogroup_nice

pytestmark = pytest.mark.unit

_CHILD = (
    "import os; from services.common.priority import autogroup_nice, lower_cpu_priority;"
    " lower_cpu_priority(3); print(os.nice(0)); print(autogroup_nice())"
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


def test_a_session_leader_lowers_its_autogroup_with_its_nice_value() -> None:
    base = os.nice(0)

    nice, group = _child(own_session=True)

    assert nice == min(base + 3, 19)
    if group != "None":  # autogroups apply here (not inside a CPU cgroup, as in CI's container)
        assert group == str(nice), "the session's group yields too, or nice means nothing"


def test_a_process_that_does_not_lead_its_session_leaves_the_group_alone() -> None:
    before = str(autogroup_nice())

    nice, group = _child(own_session=False)

    assert nice == min(os.nice(0) + 3, 19)
    assert group == before == str(autogroup_nice()), "the shell's (pytest's) group is not ours"


def test_an_empty_autogroup_file_means_autogroups_do_not_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a CPU cgroup (CI's container) the kernel prints nothing there; that is no error."""
    empty = tmp_path / "autogroup"
    empty.write_text("")
    monkeypatch.setattr(priority, "AUTOGROUP", empty)
    assert priority.autogroup_nice() is None
    empty.write_text("/autogroup-7 nice 4\n")
    assert priority.autogroup_nice() == 4
