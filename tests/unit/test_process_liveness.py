"""Asking whether a process runs must never reap it: its owner reads the status."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from infra.local import process

pytestmark = pytest.mark.unit


def test_is_alive_leaves_an_exited_child_for_its_owner_to_reap() -> None:
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    deadline = time.monotonic() + 30
    while process.is_alive(child.pid):  # no Popen given: the stack's view of a pid file
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.02)
    # Reaped by is_alive, the pid would be free for reuse while this Popen still names it,
    # and the owner would read a made-up status (0) instead of the child's own.
    assert child.wait(timeout=10) == 7


def test_a_running_child_is_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert process.is_alive(child.pid)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert not process.is_alive(child.pid)
