"""The body of a consumer replica's /health/assignment: which partitions it holds (served by
services/common/service.py, read by the local stack's `sluice ps`)."""

from __future__ import annotations

import msgspec


class AssignedPartition(msgspec.Struct, frozen=True):
    """One partition a consumer holds now."""

    topic: str
    partition: int


class Assignment(msgspec.Struct, frozen=True):
    """The body of /health/assignment: which partitions this replica's consumer holds."""

    service: str
    instance: str
    group: str
    partitions: list[AssignedPartition]
    lag: int
