"""Kafka or PostgreSQL in the foreground for Tilt's local mode: logs on stdout, stopped on SIGTERM.

    python -m infra.local.serve kafka            # the Tiltfile's `kafka` resource (serve_cmd)
    python -m infra.local.serve postgres         # the Tiltfile's `postgres` resource
    python -m infra.local.serve kafka --check    # exit 0 when it answers (the readiness probe)

Data and ports are those of `make up` (`.run/kafka`, `.run/postgres`, `SLUICE_RUN_DIR`,
`SLUICE_KAFKA_PORT`, `SLUICE_KAFKA_CONTROLLER_PORT`, `SLUICE_POSTGRES_PORT`), so switching
between `make up` and `tilt up -- --local` keeps topics and jobs; one of them runs at a time.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import BinaryIO, Protocol

import psycopg

from infra.local import REPO_ROOT
from infra.local.kafka import KafkaRunner, metadata_ok
from infra.local.postgres import PostgresRunner

READY_TIMEOUT = 120.0
KINDS = ("kafka", "postgres")


class Runner(Protocol):
    """What KafkaRunner and PostgresRunner have in common."""

    @property
    def log_file(self) -> Path:
        """Where the process writes its output."""

    def pid(self) -> int | None:
        """The running process's pid, or None."""

    def start(self, detach: bool = False) -> int:
        """Start the process; return its pid."""

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the process answers."""

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the process down cleanly."""


class StopRequested(Exception):
    """SIGTERM or SIGINT arrived (Tilt stops a serve_cmd with SIGTERM)."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise StopRequested(signal.Signals(signum).name)


class LogFollower(threading.Thread):
    """Copies what a log file gains to `out`, as `tail -f` would, until stopped."""

    def __init__(self, path: Path, out: BinaryIO, offset: int, interval: float = 0.2) -> None:
        super().__init__(name=f"follow-{path.name}", daemon=True)
        self._path = path
        self._out = out
        self._offset = offset
        self._interval = interval
        self._done = threading.Event()
        self._lock = threading.Lock()

    def copy(self) -> None:
        """Copy what the file gained since the last copy."""
        with self._lock:
            self._copy()

    def _copy(self) -> None:
        try:
            with self._path.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
        except OSError:
            return  # not created yet
        if data:
            self._offset += len(data)
            self._out.write(data)
            self._out.flush()

    def run(self) -> None:
        """Copy new output every `interval` seconds, and once more when stopped."""
        while not self._done.wait(self._interval):
            self.copy()
        self.copy()

    def stop(self) -> None:
        """Copy what is left and end the thread."""
        self._done.set()
        self.join()


def _say(out: BinaryIO, text: str) -> None:
    out.write(f"[serve] {text}\n".encode())
    out.flush()


def serve(
    runner: Runner,
    name: str,
    *,
    out: BinaryIO,
    ready_timeout: float = READY_TIMEOUT,
    poll: float = 0.5,
) -> int:
    """Run `runner` in the foreground until SIGTERM/SIGINT (0) or until it dies (1).

    Its log is copied to `out`, so Tilt shows it; it is always stopped before returning.
    """
    running = runner.pid()
    if running is not None:
        _say(out, f"{name} already runs (pid {running}), probably from `make up`: run `make down`")
        return 1
    offset = runner.log_file.stat().st_size if runner.log_file.exists() else 0
    follower = LogFollower(runner.log_file, out, offset)
    follower.start()
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        runner.start(detach=False)
        runner.wait_ready(ready_timeout)
        follower.copy()  # its start-up lines before our "ready"
        _say(out, f"{name} ready")
        while runner.pid() is not None:
            time.sleep(poll)
    except StopRequested as stop:
        _say(out, f"{stop} received: stopping {name}")
        return 0
    except (RuntimeError, TimeoutError) as error:
        _say(out, f"{name} did not start: {error}")
        return 1
    else:
        _say(out, f"{name} exited on its own; its last lines are above")
        return 1
    finally:
        for sig in previous:  # a second signal must not cut the shutdown short
            signal.signal(sig, signal.SIG_IGN)
        try:
            runner.stop()
        finally:
            follower.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_dir(environ: Mapping[str, str]) -> Path:
    """The folder `make up` uses: $SLUICE_RUN_DIR, else .run/ at the repository root."""
    return Path(environ.get("SLUICE_RUN_DIR", REPO_ROOT / ".run")).resolve()


def kafka_runner(environ: Mapping[str, str]) -> KafkaRunner:
    """The broker of `make up`: port $SLUICE_KAFKA_PORT (9092), data in <run dir>/kafka."""
    port = int(environ.get("SLUICE_KAFKA_PORT", "9092"))
    controller = int(environ.get("SLUICE_KAFKA_CONTROLLER_PORT", str(port + 1)))
    base = run_dir(environ)
    return KafkaRunner(base / "kafka", port, controller, base / "logs" / "kafka.log")


def postgres_runner(environ: Mapping[str, str]) -> PostgresRunner:
    """The server of `make up`: port $SLUICE_POSTGRES_PORT (5434), data in <run dir>/postgres."""
    port = int(environ.get("SLUICE_POSTGRES_PORT", "5434"))
    base = run_dir(environ)
    return PostgresRunner(base / "postgres", port, base / "logs" / "postgres.log")


def check(kind: str, environ: Mapping[str, str]) -> bool:
    """Say whether the Kafka or PostgreSQL of `make up` answers now (Tilt's readiness probe)."""
    if kind == "kafka":
        return metadata_ok(kafka_runner(environ).bootstrap)
    try:
        with psycopg.connect(postgres_runner(environ).url(), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Command line: `serve kafka|postgres [--check]`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m infra.local.serve", description=__doc__)
    parser.add_argument("kind", choices=KINDS, help="what to run")
    parser.add_argument("--check", action="store_true", help="exit 0 if it answers, else 1")
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    if args.check:
        return 0 if check(args.kind, env) else 1
    runner: Runner = kafka_runner(env) if args.kind == "kafka" else postgres_runner(env)
    return serve(runner, args.kind, out=sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
