"""What one local stack runs and where (`StackConfig`), and where it saves that while it runs."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from infra.local import REPO_ROOT
from infra.local.ports import free_port

SERVICES = ("status", "parser", "embedder", "ingest")  # the pipeline: one replica each by default
OPTIONAL = ("pipestats",)  # in code, run when asked for (`replicas={"pipestats": 1}`)
RUNNABLE = (*SERVICES, *OPTIONAL)
CONSUMERS = ("status", "parser", "embedder")  # each reads in a group: SLUICE_<NAME>_GROUP
GROUPS = (*CONSUMERS, "pipestats")  # pipestats's faust app id is its group too
DEFAULT_PORTS = {"ingest": 8000, "status": 8001, "parser": 8002, "embedder": 8003}
DEFAULT_PORTS |= {"pipestats": 8005}  # 8004: the embedding server
DEFAULT_REPLICAS = {name: 0 if name in OPTIONAL else 1 for name in RUNNABLE}
# What `sluice up` and `sluice demo` run: the pipeline and pipestats (the pipeline view's
# windows). Stacks built in code (tests, bench) run pipestats only when they ask for it.
UP_REPLICAS = {name: 1 for name in RUNNABLE}
STATE_FILE = "stack.json"  # the running stack's configuration, for later commands
LABEL = re.compile(rf"^({'|'.join(RUNNABLE)})(?:-(\d+))?$")


def label_of(service: str, index: int) -> str:
    """`parser` for a service's first replica, `parser-2` for its second: pid and log names."""
    return service if index == 1 else f"{service}-{index}"


@dataclass(frozen=True)
class StackConfig:
    """What one stack runs and where: ports, infrastructure, environment, replicas."""

    run_dir: Path
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    postgres_port: int = 5434
    kafka_bootstrap: str | None = None  # an existing Kafka; None: run our own on kafka_port
    database_url: str | None = None  # an existing Postgres; None: run our own on postgres_port
    database: str | None = None  # a database of our own on that server, created by `up`
    env: Mapping[str, str] = field(default_factory=dict)  # overrides for every service
    replicas: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_REPLICAS))
    group_suffix: str = ""  # appended to each consumer group: stacks on one broker never share
    detach: bool = True  # processes outlive the caller (`sluice up`), else die with it

    @classmethod
    def on_free_ports(cls, run_dir: Path, **options: Any) -> StackConfig:
        """A stack under `run_dir` on ports free right now (its own Kafka and Postgres unless
        `options` name existing ones)."""
        return cls(
            run_dir=run_dir,
            ports={name: free_port() for name in RUNNABLE},
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
            **options,
        )

    @classmethod
    def from_env(cls, run_dir: Path | None = None, **options: Any) -> StackConfig:
        """The developer's stack: ingest 8000, status 8001, parser 8002, embedder 8003, Kafka
        9092, Postgres 5434, under .run/; each overridden by its SLUICE_* variable.

        While a stack runs under that folder (`up` saved its configuration there), its saved
        configuration instead: `scale`, `replay`, ... then act on what runs.
        """
        env = os.environ
        where = (run_dir or Path(env.get("SLUICE_RUN_DIR", REPO_ROOT / ".run"))).resolve()
        saved = where / STATE_FILE
        if saved.is_file():
            return cls(run_dir=where, **{**msgspec.json.decode(saved.read_bytes()), **options})
        kafka_port = int(env.get("SLUICE_KAFKA_PORT", "9092"))
        return cls(
            run_dir=where,
            ports={
                name: int(env.get(f"SLUICE_{name.upper()}_PORT", port))
                for name, port in DEFAULT_PORTS.items()
            },
            kafka_port=kafka_port,
            kafka_controller_port=int(env.get("SLUICE_KAFKA_CONTROLLER_PORT", kafka_port + 1)),
            postgres_port=int(env.get("SLUICE_POSTGRES_PORT", "5434")),
            kafka_bootstrap=env.get("SLUICE_KAFKA_BOOTSTRAP") or None,
            database_url=env.get("SLUICE_DATABASE_URL") or None,
            **options,
        )

    def save(self) -> None:
        """Write what a later `from_env` needs to act on this stack (`<run_dir>/stack.json`,
        owner-only: the environment may hold the JWT secret)."""
        state = {
            "ports": dict(self.ports),
            "kafka_port": self.kafka_port,
            "kafka_controller_port": self.kafka_controller_port,
            "postgres_port": self.postgres_port,
            "kafka_bootstrap": self.kafka_bootstrap,
            "database_url": self.database_url,
            "database": self.database,
            "env": dict(self.env),
            "group_suffix": self.group_suffix,
        }
        path = self.run_dir / STATE_FILE
        path.touch(mode=0o600)
        path.write_bytes(msgspec.json.encode(state))
