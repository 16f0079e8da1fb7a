"""The audit log on a real Postgres: an admin action on another tenant's job is recorded
(who, what, which tenant) in `audit_log` and as a `sluice.audit` log line; one on the
actor's own job, or on no job, is not."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from services.common.auth import Principal
from services.common.db import Pool, migrate, open_pool
from services.status.adapters.audit import AuditLog

pytestmark = pytest.mark.integration

ADMIN = Principal(subject="oncall@example.com", tenant="ops", scopes=frozenset({"admin:jobs"}))


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[Pool]:
    applied = await migrate(fresh_database)
    assert "004_audit.sql" in applied
    opened = await open_pool(fresh_database, max_size=2)
    async with opened.connection() as conn:
        for job, tenant in (("job-acme", "acme"), ("job-ops", "ops")):
            await conn.execute(
                "INSERT INTO jobs (job_id, tenant_id, document_id, state, state_rank)"
                " VALUES (%s, %s, %s, 'failed', 9)",
                (job, tenant, f"doc-{tenant}"),
            )
    try:
        yield opened
    finally:
        await opened.close()


async def _rows(pool: Pool) -> list[tuple[str, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT actor, actor_tenant, scope, action, tenant_id, target"
            " FROM audit_log ORDER BY id"
        )
        return [tuple(row.values()) for row in await cur.fetchall()]


async def test_an_action_on_another_tenants_job_is_recorded(
    pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    audit = AuditLog(pool)
    with caplog.at_level(logging.INFO, logger="sluice.audit"):
        assert await audit.job_action(ADMIN, "jobs.retry", "job-acme") == "acme"

    assert await _rows(pool) == [
        ("oncall@example.com", "ops", "admin:jobs", "jobs.retry", "acme", "job-acme")
    ]
    (line,) = [r for r in caplog.records if r.name == "sluice.audit"]
    assert line.tenant_id == "acme"  # type: ignore[attr-defined]
    assert line.job_id == "job-acme"  # type: ignore[attr-defined]
    assert line.fields["actor"] == "oncall@example.com"  # type: ignore[attr-defined]
    assert line.fields["action"] == "jobs.retry"  # type: ignore[attr-defined]


async def test_own_and_unknown_jobs_cross_no_tenant_and_are_not_recorded(pool: Pool) -> None:
    audit = AuditLog(pool)
    assert await audit.job_action(ADMIN, "jobs.retry", "job-ops") is None
    assert await audit.job_action(ADMIN, "jobs.retry", "no-such-job") is None
    assert await _rows(pool) == []
