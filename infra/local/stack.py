"""One local stack: Kafka, Postgres and N replicas of each service as processes under `run_dir`.

`sluice up|down|ps|demo`, the benchmarks, the end-to-end tests and the fault drill all use it.
Its state is on disk (`<label>.pid`: pid and port; `logs/<label>.log`; `kafka/`, `postgres/`),
so a later process (`sluice down`) can stop what an earlier one (`sluice up`) started.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local import REPO_ROOT, process
from infra.local.kafka import KafkaRunner
from infra.local.ports import free_port, http_ok
from infra.local.postgres import PostgresRunner, create_database, with_database
from infra.local.stack_config import (
    CONSUMERS,
    DEFAULT_PORTS,
    GROUPS,
    LABEL,
    OPTIONAL,
    RUNNABLE,
    SERVICES,
    STATE_FILE,
    StackConfig,
    label_of,
)
from services.common.auth import issue_token
from services.common.settings import DEV_JWT_SECRET

__all__ = [
    "CONSUMERS",
    "DEFAULT_PORTS",
    "OPTIONAL",
    "RUNNABLE",
    "SERVICES",
    "Replica",
    "Stack",
    "StackConfig",
    "StackError",
    "label_of",
]
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0


def _quiet(_line: str) -> None:
    """Discard a progress line."""


class StackError(RuntimeError):
    """A process of the stack did not start, stop or answer; the message says which and why."""


@dataclass(frozen=True)
class Replica:
    """One running process of a service: the first (index 1) answers on the service's port."""

    service: str
    index: int
    port: int
    pid: int

    @property
    def label(self) -> str:
        """`parser` for the first replica, `parser-2` for the second: its pid and log names."""
        return label_of(self.service, self.index)

    @property
    def url(self) -> str:
        """Base URL of this replica's HTTP server."""
        return f"http://127.0.0.1:{self.port}"


class Stack:
    """Starts what is not running, kills and restarts replicas, stops all it started."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        logs = config.run_dir / "logs"
        self.kafka = KafkaRunner(
            config.run_dir / "kafka",
            config.kafka_port,
            config.kafka_controller_port,
            logs / "kafka.log",
        )
        self.postgres = PostgresRunner(
            config.run_dir / "postgres", config.postgres_port, logs / "postgres.log"
        )
        self.started = time.monotonic()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        # Every process this object started leads a session: leader pid -> its start time.
        self._sessions: dict[int, int | None] = {}

    # -- addresses -------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        """Kafka bootstrap servers of this stack."""
        return self.config.kafka_bootstrap or self.kafka.bootstrap

    @property
    def database_url(self) -> str:
        """The database the services use."""
        url = self.config.database_url or self.postgres.url()
        return with_database(url, self.config.database) if self.config.database else url

    def url(self, service: str) -> str:
        """Base URL of a service (its first replica)."""
        return f"http://127.0.0.1:{self.config.ports[service]}"

    @property
    def ingest_url(self) -> str:
        """Base URL of the upload API."""
        return self.url("ingest")

    @property
    def status_url(self) -> str:
        """Base URL of the jobs, documents and search API."""
        return self.url("status")

    def log_file(self, label: str) -> Path:
        """Where a replica's stdout and stderr go (label: `parser`, `parser-2`, ...)."""
        return self.config.run_dir / "logs" / f"{label}.log"

    @property
    def jwt_secret(self) -> str:
        """The secret the services verify tokens with."""
        secret = self.config.env.get("SLUICE_JWT_SECRET") or os.environ.get("SLUICE_JWT_SECRET")
        return secret or DEV_JWT_SECRET

    def token(self, tenant: str, **claims: Any) -> str:
        """A signed bearer token for `tenant` that every service of this stack accepts."""
        return issue_token(tenant, self.jwt_secret, **claims)

    def service_env(self, service: str, index: int = 1, port: int | None = None) -> dict[str, str]:
        """The environment one replica runs with."""
        label = label_of(service, index)
        env = dict(os.environ)
        env.update(
            SLUICE_KAFKA_BOOTSTRAP=self.bootstrap,
            SLUICE_DATABASE_URL=self.database_url,
            SLUICE_INSTANCE_ID=f"{label}-{self.config.group_suffix or 'local'}",
            SLUICE_STATUS_BASE_URL=self.status_url,
            SLUICE_PUBLIC_INGEST_URL=self.ingest_url,  # where the web console uploads
            PYTHONUNBUFFERED="1",
            **{f"SLUICE_{name.upper()}_PORT": str(p) for name, p in self.config.ports.items()},
        )
        if self.config.group_suffix:
            suffix = self.config.group_suffix
            env.update({f"SLUICE_{n.upper()}_GROUP": f"sluice-{n}-{suffix}" for n in GROUPS})
        env.update(self.config.env)
        env[f"SLUICE_{service.upper()}_PORT"] = str(port or self.config.ports[service])
        return env

    # -- replicas --------------------------------------------------------------------------
    def _pid_files(self) -> Iterator[tuple[str, int, Path]]:
        """(service, index, pid file) of every replica that has a pid file."""
        for path in sorted(self.config.run_dir.glob("*.pid")):
            found = LABEL.match(path.stem)
            if found:
                yield found.group(1), int(found.group(2) or 1), path

    def replicas(self, service: str | None = None) -> list[Replica]:
        """The running replicas (of `service`, or of all), as their pid files name them."""
        running = []
        for name, index, path in self._pid_files():
            if service not in (None, name):
                continue
            lines = path.read_text().split()
            pid = int(lines[0]) if lines else 0
            port = int(lines[1]) if len(lines) > 1 else self.config.ports[name]
            replica = Replica(name, index, port, pid)
            alive = pid and process.is_alive(pid, self._procs.get(replica.label))
            if alive and f"services.{name}" in process.cmdline(pid):
                running.append(replica)
        return running

    def replica(self, label: str) -> Replica:
        """The running replica called `label`; StackError when none runs."""
        for replica in self.replicas():
            if replica.label == label:
                return replica
        raise StackError(f"{label} is not running")

    def _forget(self, replica: Replica) -> None:
        self.config.run_dir.joinpath(f"{replica.label}.pid").unlink(missing_ok=True)
        self._procs.pop(replica.label, None)

    def _own_runners(self) -> dict[str, KafkaRunner | PostgresRunner]:
        """The runners this stack starts itself: those it was not given an existing one for."""
        runners: dict[str, KafkaRunner | PostgresRunner] = {}
        if self.config.kafka_bootstrap is None:
            runners["kafka"] = self.kafka
        if self.config.database_url is None:
            runners["postgres"] = self.postgres
        return runners

    def _note(self, pid: int | None) -> None:
        """Remember the session `pid` leads, so `down` can find what it leaves behind."""
        if pid is not None:  # a reused pid: the session it led before is empty, or it would not be
            self._sessions[pid] = process.started(pid)

    # -- lifecycle -------------------------------------------------------------------------
    def up(
        self, out: Callable[[str], None] = _quiet, waiting: Callable[[str], None] = _quiet
    ) -> None:
        """Bring up whatever is not running (infrastructure, then `replicas` of each service)
        and wait until every replica answers /health/ready; leave healthy processes alone.
        `out` gets what was done, `waiting` what is waited for (a spinner's text)."""
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.save()
        self.started = time.monotonic()
        where = {
            "kafka": f"Kafka on {self.kafka.bootstrap} (jars from Maven Central)",
            "postgres": f"PostgreSQL on 127.0.0.1:{self.postgres.port}",
        }
        for name, runner in self._own_runners().items():
            if runner.pid() is None:
                out(f"starting {where[name]}")
                runner.start(detach=self.config.detach)
            self._note(runner.pid())
            waiting(f"waiting for {where[name]}")
            runner.wait_ready(timeout=120)
        if self.config.database:
            create_database(self.database_url, self.config.database)
        for service in RUNNABLE:
            running = {replica.index for replica in self.replicas(service)}
            for index in range(1, self.config.replicas.get(service, 0) + 1):
                if index not in running:
                    replica = self.start(service, index=index, wait=False)
                    out(f"starting {replica.label} on 127.0.0.1:{replica.port}")
        self.wait_ready(self.replicas(), waiting=waiting)
        waiting("ready")
        out("ready:")
        out(f"  ingest  {self.ingest_url}/v1/documents")
        out(f"  status  {self.status_url}/v1/jobs")
        out(f"  console {self.status_url}/console")
        out(f"  kafka   {self.bootstrap}")
        out(f"  postgres {self.database_url}")
        out(f"  logs    {self.config.run_dir / 'logs'}")

    def start(
        self, service: str, *, index: int | None = None, port: int | None = None, wait: bool = True
    ) -> Replica:
        """Start a replica of `service` (the lowest free index unless given; the service's
        port for the first, a free one for the others) and wait until it is ready."""
        if service not in RUNNABLE:
            raise StackError(f"no service {service!r}; one of {', '.join(RUNNABLE)}")
        taken = {replica.index: replica for replica in self.replicas(service)}
        if index is None:
            index = next(i for i in itertools.count(1) if i not in taken)
        elif index in taken:
            raise StackError(f"{taken[index].label} is already running (pid {taken[index].pid})")
        if port is None:
            port = self.config.ports[service] if index == 1 else free_port()
        proc = process.spawn(
            [sys.executable, "-m", f"services.{service}"],
            log_file=self.log_file(label_of(service, index)),
            detach=self.config.detach,
            env=self.service_env(service, index, port),
            cwd=REPO_ROOT,
        )
        replica = Replica(service, index, port, proc.pid)
        self._procs[replica.label] = proc
        self._note(proc.pid)
        self.config.run_dir.joinpath(f"{replica.label}.pid").write_text(f"{proc.pid}\n{port}\n")
        if wait:
            self.wait_ready([replica])
        return replica

    def wait_ready(
        self,
        replicas: Iterable[Replica],
        timeout: float = READY_TIMEOUT_S,
        waiting: Callable[[str], None] = _quiet,
    ) -> None:
        """Block until each replica answers /health/ready with 200; StackError with its log's
        tail when one exits first or the time runs out."""
        pending = {replica.label: replica for replica in replicas}
        deadline = time.monotonic() + timeout
        while pending:
            waiting(f"waiting for {', '.join(sorted(pending))} to answer /health/ready")
            for label, replica in sorted(pending.items()):
                proc = self._procs.get(label)
                if not process.is_alive(replica.pid, proc):
                    code = f" (code {proc.returncode})" if proc is not None else ""
                    log = process.tail(self.log_file(label))
                    raise StackError(f"{label} exited during start{code}:\n{log}")
                if http_ok(f"{replica.url}/health/ready"):
                    del pending[label]
            if pending and time.monotonic() > deadline:
                tails = "\n\n".join(
                    f"--- {label} ({self.log_file(label)}):\n{process.tail(self.log_file(label))}"
                    for label in sorted(pending)
                )
                raise StackError(f"not ready after {timeout:.0f}s: {sorted(pending)}\n{tails}")
            if pending:
                time.sleep(0.5)

    def kill(self, label: str, timeout: float = 30) -> Replica:
        """SIGKILL a replica and what it started (its process group), as a node failure
        would, and wait until it is reaped, so that a restart never meets the dying one."""
        replica = self.replica(label)
        process.signal_group(replica.pid, signal.SIGKILL)
        if not process.wait_dead(replica.pid, timeout, self._procs.get(label)):
            raise StackError(f"{label} (pid {replica.pid}) alive {timeout:.0f}s after SIGKILL")
        self._forget(replica)
        return replica

    def restart(self, label: str) -> Replica:
        """SIGKILL a replica, start it again on the same port, and wait until it is ready."""
        gone = self.kill(label)
        return self.start(gone.service, index=gone.index, port=gone.port)

    def stop(self, label: str, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop a replica gracefully: SIGTERM (it finishes its batch, commits and leaves the
        group), SIGKILL of its group after `timeout`."""
        replica = self.replica(label)
        process.terminate(
            replica.pid, sig=signal.SIGTERM, timeout=timeout, proc=self._procs.get(label)
        )
        self._forget(replica)

    def stop_replicas(
        self,
        replicas: Iterable[Replica],
        timeout: float = STOP_TIMEOUT_S,
        out: Callable[[str], None] = _quiet,
    ) -> None:
        """Stop these replicas gracefully, all at once: SIGTERM to each (it finishes its work,
        commits and leaves the group), SIGKILL of the groups still running after `timeout`."""
        live = list(replicas)
        for replica in live:
            out(f"stopping {replica.label}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(replica.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for replica in live:
            left = max(0.1, deadline - time.monotonic())
            process.reap(replica.pid, timeout=left, proc=self._procs.get(replica.label))
            self._forget(replica)

    def stop_services(
        self, timeout: float = STOP_TIMEOUT_S, out: Callable[[str], None] = _quiet
    ) -> None:
        """Stop every replica gracefully, all at once; Kafka and Postgres go on."""
        order = {name: i for i, name in enumerate(reversed(RUNNABLE))}
        live = sorted(self.replicas(), key=lambda r: (order[r.service], r.index))
        self.stop_replicas(live, timeout, out)
        for _, _, path in self._pid_files():  # stale files of replicas that died on their own
            path.unlink(missing_ok=True)

    def down(self, out: Callable[[str], None] = _quiet) -> None:
        """Stop the services, then Postgres and Kafka, that this stack runs; then make sure no
        process of theirs is left (StackError naming any that was, after killing it)."""
        leaders = dict(self._sessions)
        running = [r.pid for r in self.replicas()] + [self.kafka.pid(), self.postgres.pid()]
        leaders |= {pid: process.started(pid) for pid in running if pid and pid not in leaders}
        self.stop_services(out=out)
        if self.postgres.pid() is not None:
            out("stopping PostgreSQL")
            self.postgres.stop()
        if self.kafka.pid() is not None:
            out("stopping Kafka")
            self.kafka.stop()
        self.config.run_dir.joinpath(STATE_FILE).unlink(missing_ok=True)
        left = process.left_in_sessions(leaders)
        if left:
            process.kill_all(left)
            raise StackError(f"killed processes that outlived the stop: {left}")

    def crash_restart(self, name: str) -> None:
        """SIGKILL the stack's `kafka` or `postgres` and start it again on the same data, as
        a machine that crashed and came back would (Postgres recovers from its WAL)."""
        runner = self._own_runners().get(name)
        if runner is None:
            raise StackError(f"this stack runs no {name!r} of its own (kafka, postgres) to restart")
        runner.kill()
        runner.start(detach=self.config.detach)
        self._note(runner.pid())
        runner.wait_ready(timeout=120)

    def pids(self) -> dict[str, int]:
        """The pid of every process this stack runs, by label (`kafka`, `postgres` too)."""
        found = {replica.label: replica.pid for replica in self.replicas()}
        if (pid := self.kafka.pid()) is not None:
            found["kafka"] = pid
        if (pid := self.postgres.pid()) is not None:
            found["postgres"] = pid
        return found
