"""Replicas of the local stack: scale a service up or down gracefully, and ask each consumer
replica which partitions it holds (its /health/assignment)."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Mapping

import msgspec

from infra.local.stack import STOP_TIMEOUT_S, Replica, Stack, StackError
from infra.local.stack_config import CONSUMERS, RUNNABLE, STATE_FILE, StackConfig
from services.common.assignment import AssignedPartition, Assignment

Held = AssignedPartition  # one partition a replica's consumer holds


def _quiet(_line: str) -> None:
    """Discard a progress line."""


def assignment(replica: Replica, timeout: float = 2.0) -> Assignment | None:
    """The partitions `replica` holds now; None for a service without a consumer or one that
    does not answer."""
    if replica.service not in CONSUMERS:
        return None
    try:
        with urllib.request.urlopen(  # noqa: S310 - a local replica
            f"{replica.url}/health/assignment", timeout=timeout
        ) as response:
            return msgspec.json.decode(response.read(), type=Assignment)
    except (OSError, msgspec.DecodeError):
        return None


def _runs(numbers: list[int]) -> str:
    """`0-3,5` for [0, 1, 2, 3, 5]."""
    parts: list[str] = []
    start = previous = None
    for n in [*sorted(numbers), None]:
        if n is not None and previous is not None and n == previous + 1:
            previous = n
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = n
    return ",".join(parts)


def partitions_text(held: list[Held]) -> str:
    """`documents.parsed[0-5] documents.parsed.retry[0-5]`: a replica's partitions, short."""
    by_topic: dict[str, list[int]] = {}
    for part in held:
        by_topic.setdefault(part.topic.removeprefix("sluice."), []).append(part.partition)
    return " ".join(f"{topic}[{_runs(numbers)}]" for topic, numbers in sorted(by_topic.items()))


def scale(
    stack: Stack, counts: Mapping[str, int], out: Callable[[str], None] = _quiet
) -> list[Replica]:
    """Run `counts[service]` replicas of each service named: start the missing ones (lowest
    free index) and stop the surplus (highest index first) with SIGTERM, so each finishes its
    work, commits and leaves its group; wait until the new ones are ready; return them."""
    for service in counts:
        if service not in RUNNABLE:
            raise StackError(f"no service {service!r}; one of {', '.join(RUNNABLE)}")
    surplus: list[Replica] = []
    for service, wanted in counts.items():
        running = sorted(stack.replicas(service), key=lambda r: r.index)
        surplus += running[wanted:]
    stack.stop_replicas(surplus, STOP_TIMEOUT_S * 2, out)
    started: list[Replica] = []
    for service, wanted in counts.items():
        for _ in range(wanted - len(stack.replicas(service))):
            replica = stack.start(service, wait=False)
            out(f"starting {replica.label} on 127.0.0.1:{replica.port}")
            started.append(replica)
    stack.wait_ready(started)
    return started


class LocalReplicas:
    """`ReplicaControl` (services/cli/replay.py) for the running local stack: `replay` stops a
    service's replicas while it rewinds their group, then starts them again."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._stopped: dict[str, Replica] = {}

    @classmethod
    def running(cls) -> LocalReplicas | None:
        """The stack `sluice up` runs under $SLUICE_RUN_DIR (.run/), None when none runs."""
        config = StackConfig.from_env()
        if not (config.run_dir / STATE_FILE).is_file():
            return None
        return cls(Stack(config))

    def environment(self) -> dict[str, str]:
        """The environment the stack's services run with."""
        return self.stack.service_env("status")

    def stop(self, service: str) -> list[str]:
        """Stop every replica of `service` gracefully (finish, commit, leave the group)."""
        replicas = self.stack.replicas(service)
        self.stack.stop_replicas(replicas, STOP_TIMEOUT_S * 2)
        self._stopped.update({r.label: r for r in replicas})
        return [r.label for r in replicas]

    def start(self, labels: list[str]) -> None:
        """Start the stopped replicas again, each on its port, and wait until they are ready."""
        started = []
        for label in labels:
            gone = self._stopped.pop(label)
            started.append(
                self.stack.start(gone.service, index=gone.index, port=gone.port, wait=False)
            )
        self.stack.wait_ready(started)
