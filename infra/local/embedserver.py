"""`python -m services.embedserver` as a local process for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from infra.local import REPO_ROOT
from infra.local.ports import free_port
from infra.local.process import tail


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def served(
    log_file: Path,
    api_key: str,
    env: Mapping[str, str] | None = None,
    *,
    ready_s: float = 120.0,
    stop_s: float = 30.0,
) -> Iterator[str]:
    """The server on a free port with `api_key` (and `env` over this process's environment)
    until the block ends; its /v1 URL. Raises RuntimeError with the log's tail when it exits
    first or is not ready within `ready_s`."""
    port = free_port()
    with log_file.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.embedserver"],
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "SLUICE_EMBEDSERVER_PORT": str(port),
                "SLUICE_EMBEDSERVER_API_KEY": api_key,
                **(env or {}),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + ready_s
        while not _ready(port):
            if process.poll() is not None:
                raise RuntimeError(f"embedserver exited while starting:\n{tail(log_file)}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"embedserver not ready after {ready_s:.0f} s:\n{tail(log_file)}"
                )
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
