"""An isolated local cluster for fault drills: its own Kafka, Postgres and service processes."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from infra.local import process
from infra.local.ports import free_port
from services.cli.stack import REPO_ROOT, SERVICES, Stack, StackConfig, http_ok
from services.common.auth import issue_token

SECRET = "fault-drill-secret-0123456789-abcdefghij"


@dataclass
class Replica:
    """One extra service process."""

    name: str
    port: int
    proc: object


@dataclass
class Cluster:
    """Kafka + Postgres + the four services, each killable and restartable."""

    run_dir: Path
    provider: str = "local"
    stack: Stack = field(init=False)
    replicas: list[Replica] = field(default_factory=list)
    sessions: set[int] = field(default_factory=set)  # every process it started leads one

    def __post_init__(self) -> None:
        self.stack = Stack(StackConfig.on_free_ports(self.run_dir))

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Bring everything up (or back up) and wait until every service is ready."""
        saved = {k: os.environ.pop(k, None) for k in _ENV_OVERRIDES}
        os.environ.update(self._env())
        try:
            self.stack.up(out=lambda _line: None)
            self._note_sessions()
        finally:
            for key in self._env():
                os.environ.pop(key, None)
            for key, value in saved.items():
                if value is not None:
                    os.environ[key] = value

    def _note_sessions(self) -> None:
        """Remember the sessions of the processes running now (each leads its own)."""
        pids = [self.stack.service_pid(name) for name in SERVICES]
        pids += [self.stack.kafka.pid(), self.stack.postgres.pid()]
        pids += [replica.proc.pid for replica in self.replicas]  # type: ignore[attr-defined]
        self.sessions |= {pid for pid in pids if pid is not None}

    def _env(self) -> dict[str, str]:
        return {
            "SLUICE_JWT_SECRET": SECRET,
            "SLUICE_EMBEDDING_PROVIDER": self.provider,
            "SLUICE_LOG_LEVEL": "WARNING",
            "SLUICE_EMBEDDING_THREADS": "1",
            "SLUICE_EMBEDDING_LANES": "1",
            "SLUICE_PARSE_WORKERS": "1",
        }

    def stop(self) -> None:
        """Stop replicas, services, Postgres and Kafka; remove the run dir.

        Raises when any process the cluster started (or one of theirs: parser workers, the
        broker's children) outlives the stop.
        """
        self._note_sessions()
        for replica in self.replicas:
            process.terminate(replica.proc.pid, sig=signal.SIGTERM, timeout=20)  # type: ignore[attr-defined]
        self.stack.down(out=lambda _line: None)
        left = process.in_sessions(self.sessions)
        assert not left, f"processes left behind after stop: {left}"
        if not os.environ.get("SLUICE_KEEP_RUN"):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- faults ------------------------------------------------------------------------------
    def kill(self, name: str) -> None:
        """SIGKILL a service (no chance to commit or leave the group)."""
        assert self.stack.kill_service(name), f"{name} is not running"

    def restart_broker(self) -> None:
        """SIGKILL the broker and start it again on the same data."""
        self.stack.kafka.kill()
        self.stack.kafka.start(detach=True)
        self.stack.kafka.wait_ready(timeout=120)

    def restart_postgres(self) -> None:
        """SIGKILL Postgres and start it again (crash recovery from WAL)."""
        self.stack.postgres.kill()
        self.stack.postgres.start(detach=True)
        self.stack.postgres.wait_ready(timeout=120)

    def terminate_backends(self, application: str) -> int:
        """pg_terminate_backend every connection of one service, mid-transaction or not."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (application,),
            ).fetchall()
        return len(rows)

    def add_replica(self, name: str) -> Replica:
        """Start one more process of a service (forces a rebalance)."""
        port = free_port()
        env = {**self.stack.service_env(name), **self._env()}
        env[f"SLUICE_{name.upper()}_PORT"] = str(port)
        env["SLUICE_INSTANCE_ID"] = f"{name}-replica-{uuid.uuid4().hex[:6]}"
        proc = process.spawn(
            [sys.executable, "-m", f"services.{name}"],
            log_file=self.run_dir / "logs" / f"{name}-replica-{port}.log",
            detach=False,
            env=env,
            cwd=REPO_ROOT,
        )
        replica = Replica(name, port, proc)
        self.replicas.append(replica)
        self.sessions.add(proc.pid)
        deadline = time.monotonic() + 180
        while not http_ok(f"http://127.0.0.1:{port}/health/ready"):
            assert proc.poll() is None, f"replica of {name} exited: {proc.returncode}"
            assert time.monotonic() < deadline, f"replica of {name} never became ready"
            time.sleep(0.5)
        return replica

    def remove_replica(self, replica: Replica) -> None:
        """SIGTERM a replica: it finishes its batch, commits and leaves the group."""
        process.terminate(replica.proc.pid, sig=signal.SIGTERM, timeout=60)  # type: ignore[attr-defined]
        self.replicas.remove(replica)

    # -- addresses -------------------------------------------------------------------------
    @property
    def database_url(self) -> str:
        """The cluster's database."""
        return self.stack.database_url

    @property
    def bootstrap(self) -> str:
        """The cluster's Kafka."""
        return self.stack.kafka.bootstrap

    def url(self, name: str) -> str:
        """Base URL of a service."""
        return f"http://127.0.0.1:{self.stack.config.ports[name]}"

    def token(self, tenant: str, *, admin: bool = False) -> str:
        """A JWT for `tenant`."""
        scopes = ("documents:write", "documents:read") + (("admin",) if admin else ())
        return issue_token(tenant, SECRET, scopes=scopes)


_ENV_OVERRIDES = ("SLUICE_KAFKA_BOOTSTRAP", "SLUICE_DATABASE_URL")
