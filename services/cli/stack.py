"""The local stack: Kafka, Postgres and the four services as background processes under .run/."""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.local import process
from infra.local.kafka import KafkaRunner, ensure_kafka_jars
from infra.local.ports import free_port
from infra.local.postgres import PostgresRunner

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("status", "parser", "embedder", "ingest")


@dataclass(frozen=True)
class StackConfig:
    """Ports and folders of one local stack (env vars override the defaults)."""

    run_dir: Path
    kafka_port: int
    kafka_controller_port: int
    postgres_port: int
    ports: dict[str, int]
    database_url: str | None

    @classmethod
    def on_free_ports(cls, run_dir: Path) -> StackConfig:
        """An isolated stack under `run_dir`: every port free, its own Kafka and Postgres."""
        return cls(
            run_dir=run_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
            ports={name: free_port() for name in SERVICES},
            database_url=None,
        )

    @classmethod
    def from_env(cls, run_dir: Path | None = None) -> StackConfig:
        """Defaults: ingest 8000, status 8001, parser 8002, embedder 8003, Kafka 9092."""
        env = os.environ
        kafka_port = int(env.get("SLUICE_KAFKA_PORT", "9092"))
        return cls(
            run_dir=(run_dir or Path(env.get("SLUICE_RUN_DIR", REPO_ROOT / ".run"))).resolve(),
            kafka_port=kafka_port,
            kafka_controller_port=int(env.get("SLUICE_KAFKA_CONTROLLER_PORT", kafka_port + 1)),
            postgres_port=int(env.get("SLUICE_POSTGRES_PORT", "5434")),
            ports={
                "ingest": int(env.get("SLUICE_INGEST_PORT", "8000")),
                "status": int(env.get("SLUICE_STATUS_PORT", "8001")),
                "parser": int(env.get("SLUICE_PARSER_PORT", "8002")),
                "embedder": int(env.get("SLUICE_EMBEDDER_PORT", "8003")),
            },
            database_url=env.get("SLUICE_DATABASE_URL"),
        )


class Stack:
    """Starts what is not running, stops exactly what it started (pid files)."""

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

    @property
    def bootstrap(self) -> str:
        """Kafka bootstrap servers for the services."""
        return os.environ.get("SLUICE_KAFKA_BOOTSTRAP", self.kafka.bootstrap)

    @property
    def database_url(self) -> str:
        """The database the services use."""
        return self.config.database_url or self.postgres.url()

    def service_env(self, name: str) -> dict[str, str]:
        """Environment for one service process."""
        env = dict(os.environ)
        env.update(
            SLUICE_KAFKA_BOOTSTRAP=self.bootstrap,
            SLUICE_DATABASE_URL=self.database_url,
            SLUICE_INSTANCE_ID=f"{name}-local",
            PYTHONUNBUFFERED="1",
            **{f"SLUICE_{n.upper()}_PORT": str(p) for n, p in self.config.ports.items()},
            SLUICE_STATUS_BASE_URL=f"http://127.0.0.1:{self.config.ports['status']}",
        )
        return env

    def pid_file(self, name: str) -> Path:
        """Where a service's pid is kept."""
        return self.config.run_dir / f"{name}.pid"

    def service_pid(self, name: str) -> int | None:
        """The pid of a running service we started, if any."""
        path = self.pid_file(name)
        if not path.exists():
            return None
        pid = int(path.read_text().strip() or 0)
        if pid and process.is_alive(pid) and "services." + name in process.cmdline(pid):
            return pid
        return None

    def up(self, out: Callable[[str], None] = print) -> None:
        """Bring up whatever is not running; leave healthy processes alone."""
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        if "SLUICE_KAFKA_BOOTSTRAP" not in os.environ:
            if self.kafka.pid() is None:
                out(f"starting Kafka on {self.kafka.bootstrap} (jars from Maven Central)")
                ensure_kafka_jars(REPO_ROOT)
                self.kafka.format()
                self.kafka.start(detach=True)
            self.kafka.wait_ready(timeout=120)
        if self.config.database_url is None:
            if self.postgres.pid() is None:
                out(f"starting PostgreSQL on 127.0.0.1:{self.config.postgres_port}")
                self.postgres.start(detach=True)
            self.postgres.wait_ready(timeout=120)
        for name in SERVICES:
            if self.service_pid(name) is None:
                out(f"starting {name} on 127.0.0.1:{self.config.ports[name]}")
                proc = process.spawn(
                    [sys.executable, "-m", f"services.{name}"],
                    log_file=self.config.run_dir / "logs" / f"{name}.log",
                    detach=True,
                    env=self.service_env(name),
                    cwd=REPO_ROOT,
                )
                self.pid_file(name).write_text(str(proc.pid))
        for name in SERVICES:
            self.wait_ready(name)
        out("ready:")
        out(f"  ingest  http://127.0.0.1:{self.config.ports['ingest']}/v1/documents")
        out(f"  status  http://127.0.0.1:{self.config.ports['status']}/v1/jobs")
        out(f"  kafka   {self.bootstrap}")
        out(f"  postgres {self.database_url}")
        out(f"  logs    {self.config.run_dir / 'logs'}")

    def wait_ready(self, name: str, timeout: float = 180) -> None:
        """Block until the service answers /health/ready with 200."""
        url = f"http://127.0.0.1:{self.config.ports[name]}/health/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.service_pid(name) is None:
                log = self.config.run_dir / "logs" / f"{name}.log"
                raise RuntimeError(f"{name} exited during start:\n{process.tail(log)}")
            if http_ok(url):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{name} not ready after {timeout:.0f}s ({url})")

    def down(self, out: Callable[[str], None] = print) -> None:
        """Stop the services, then Postgres and Kafka, that this stack started."""
        for name in reversed(SERVICES):
            pid = self.service_pid(name)
            if pid is not None:
                out(f"stopping {name}")
                process.terminate(pid, sig=signal.SIGTERM, timeout=30)
            self.pid_file(name).unlink(missing_ok=True)
        if self.postgres.pid() is not None:
            out("stopping PostgreSQL")
            self.postgres.stop()
        if self.kafka.pid() is not None:
            out("stopping Kafka")
            self.kafka.stop()

    def kill_service(self, name: str, timeout: float = 30) -> bool:
        """SIGKILL a service and what it started (its process group), as a node failure would,
        and wait until it is gone, so that `up` starts a new one; False when none was running.
        """
        pid = self.service_pid(name)
        if pid is None:
            return False
        process.signal_group(pid, signal.SIGKILL)
        if not process.wait_dead(pid, timeout):
            raise RuntimeError(f"{name} (pid {pid}) still alive {timeout:.0f}s after SIGKILL")
        self.pid_file(name).unlink(missing_ok=True)
        return True


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local URL
            return bool(response.status == 200)
    except OSError:
        return False
