"""The vector-set admin API's bodies: what the status service answers (reprocess, activate,
prune, the listing) and `sluice` reads."""

from __future__ import annotations

import msgspec

from services.common.vectors.sets import VectorSetView


class ReprocessJob(msgspec.Struct, frozen=True):
    """One document sent through parse and embed again, as a new job."""

    job_id: str
    document_id: str
    filename: str


class Reprocessing(msgspec.Struct, frozen=True):
    """What a reprocess request started."""

    tenant_id: str
    vector_set: VectorSetView
    jobs: list[ReprocessJob]


class Activation(msgspec.Struct, frozen=True):
    """The set a tenant now searches, and the one it searched before."""

    tenant_id: str
    active: VectorSetView
    previous: VectorSetView | None


class KeptSet(msgspec.Struct, frozen=True):
    """A set prune left, and why."""

    vector_set: VectorSetView
    reason: str


class Pruning(msgspec.Struct, frozen=True):
    """What prune dropped (with `dry_run`: would drop) and what it kept."""

    dry_run: bool
    dropped: list[VectorSetView]
    kept: list[KeptSet]


class TenantSet(msgspec.Struct, frozen=True, kw_only=True):
    """A set, whether the tenant searches it, and how much of the tenant is in it."""

    vector_set: VectorSetView
    active: bool
    chunks: int
    documents: int
    active_tenants: int
    unfinished_jobs: int


class TenantSets(msgspec.Struct, frozen=True):
    """Every vector set, seen from one tenant."""

    tenant_id: str
    sets: list[TenantSet]
