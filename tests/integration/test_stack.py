"""The local stack's stop leaves no process behind: `sluice down` after `sluice up` (separate
processes, as a developer runs them), and the session sweep that catches what escaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from infra.local import REPO_ROOT, process
from infra.local.ports import free_port
from infra.local.stack import SERVICES, Stack, StackConfig

pytestmark = pytest.mark.integration

# A process whose child leaves the process group (so a SIGKILL of the group misses it) but
# stays in the session, and shrugs off SIGTERM: what a careless worker pool can leave behind.
ESCAPING_CHILD = """
import os, signal, time
if os.fork() == 0:
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(os.getpid(), flush=True)
    time.sleep(300)
    os._exit(0)
time.sleep(300)
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.local.cli", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )


def test_sluice_down_stops_every_replica_and_leaves_no_process(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    monkeypatch.setenv("SLUICE_RUN_DIR", str(run_dir))
    monkeypatch.setenv("SLUICE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.delenv("SLUICE_DATABASE_URL", raising=False)  # its own Postgres, stopped too
    monkeypatch.setenv("SLUICE_POSTGRES_PORT", str(free_port()))
    monkeypatch.setenv("SLUICE_STATUS_GROUP", f"sluice-status-{uuid.uuid4().hex[:8]}")
    for name in SERVICES:
        monkeypatch.setenv(f"SLUICE_{name.upper()}_PORT", str(free_port()))
    stack = Stack(StackConfig.from_env())
    # Two status replicas and ingest: no parser or embedder, which would work (and fail) on
    # the records other tests leave in the session's shared topics, nor pipestats (up's default).
    up = _cli(
        "up",
        "--scale",
        "status=2",
        "--scale",
        "parser=0",
        "--scale",
        "embedder=0",
        "--scale",
        "pipestats=0",
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        running = stack.replicas()
        assert sorted(replica.label for replica in running) == ["ingest", "status", "status-2"]
        assert len({replica.port for replica in running}) == 3
        listed = _cli("ps").stdout
        assert "status-2" in listed and "parser      stopped" in listed, listed
        postgres = stack.postgres.pid()
        assert postgres is not None
        pids = [replica.pid for replica in running] + [postgres]
        leaders = {pid: process.started(pid) for pid in pids}
    finally:
        down = _cli("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert process.left_in_sessions(leaders) == {}
    assert stack.replicas() == [] and stack.postgres.pid() is None
    assert not list(run_dir.glob("*.pid"))
    after = _cli("ps").stdout.splitlines()
    assert len(after) == len(SERVICES) and all(line.endswith(" stopped") for line in after), after


def test_the_session_sweep_finds_and_kills_what_escaped_the_process_group(
    tmp_path: Path,
) -> None:
    log = tmp_path / "escapee.log"
    leader = process.spawn([sys.executable, "-c", ESCAPING_CHILD], log_file=log, detach=False)
    leaders = {leader.pid: process.started(leader.pid)}
    deadline = time.monotonic() + 30
    while not log.read_text().strip():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    child = int(log.read_text().split()[0])
    try:
        # Someone else's session: the leader's pid with another start time is not counted.
        assert process.left_in_sessions({leader.pid: (leaders[leader.pid] or 0) + 1}) == {}
        process.terminate(leader.pid, sig=signal.SIGTERM, timeout=10, proc=leader)
        left = process.left_in_sessions(leaders)
        assert set(left) == {child}, left
        process.kill_all(left)
        assert process.left_in_sessions(leaders) == {}
    finally:
        if process.is_alive(child):
            os.kill(child, signal.SIGKILL)
