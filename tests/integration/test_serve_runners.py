"""`python -m infra.local.serve kafka|postgres` (Tilt's serve_cmd) runs the real server in the
foreground, shows its log, answers `--check`, and stops it on SIGTERM as Tilt does."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from infra.local import process, serve
from infra.local.kafka import REPO_ROOT
from infra.local.ports import free_port

pytestmark = pytest.mark.integration

READY_LINE = {"kafka": "Kafka Server started", "postgres": "ready to accept connections"}


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    """A run dir and free ports of their own, so this never meets `make up` or other tests."""
    run_dir = REPO_ROOT / ".run" / f"test-serve-{uuid.uuid4().hex[:8]}"
    kafka = free_port()
    yield {
        **os.environ,
        "SLUICE_RUN_DIR": str(run_dir),
        "SLUICE_KAFKA_PORT": str(kafka),
        "SLUICE_KAFKA_CONTROLLER_PORT": str(free_port()),
        "SLUICE_POSTGRES_PORT": str(free_port()),
    }
    shutil.rmtree(run_dir, ignore_errors=True)


def _serve(kind: str, env: dict[str, str], *args: str) -> list[str]:
    return [sys.executable, "-m", "infra.local.serve", kind, *args]


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str], seen: list[str], text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in seen):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {text!r} within {timeout:.0f}s:\n{''.join(seen[-40:])}")
        try:
            seen.append(lines.get(timeout=min(left, 1.0)))
        except queue.Empty:
            continue


@pytest.mark.parametrize("kind", ["postgres", "kafka"])
def test_serve_runs_in_the_foreground_and_stops_on_sigterm(kind: str, env: dict[str, str]) -> None:
    runner = serve.kafka_runner(env) if kind == "kafka" else serve.postgres_runner(env)
    check = subprocess.run(_serve(kind, env, "--check"), env=env, check=False, timeout=60)
    assert check.returncode == 1, "--check says ready before anything runs"

    proc = subprocess.Popen(
        _serve(kind, env),
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server_pid = None
    try:
        lines, seen = _lines(proc), []
        _wait_for(lines, seen, f"[serve] {kind} ready", timeout=180)
        assert any(READY_LINE[kind] in line for line in seen), "the server's own log is shown"
        server_pid = runner.pid()
        assert server_pid is not None and server_pid != proc.pid
        check = subprocess.run(_serve(kind, env, "--check"), env=env, check=False, timeout=60)
        assert check.returncode == 0

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
        _wait_for(lines, seen, f"SIGTERM received: stopping {kind}", timeout=10)
        assert not process.is_alive(server_pid), "the server outlived its serve_cmd"
        assert runner.pid() is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if server_pid is not None and process.is_alive(server_pid):
            process.signal_group(server_pid, signal.SIGKILL)
