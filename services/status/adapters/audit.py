"""The audit log: admin actions on another tenant's data, in Postgres and as a log line."""

from __future__ import annotations

import logging

from services.common.auth import ADMIN_JOBS, Principal
from services.common.db import Pool

log = logging.getLogger("sluice.audit")  # one name to route audit lines by


class AuditLog:
    """Records who did what to which tenant, before the action runs."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def job_action(self, actor: Principal, action: str, job_id: str) -> str | None:
        """Record `action` on `job_id` if the job is another tenant's; return that tenant.

        None when the job is the actor's own or does not exist (nothing crossed a tenant).
        """
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO audit_log (actor, actor_tenant, scope, action, tenant_id, target)"
                " SELECT %s, %s, %s, %s, tenant_id, job_id FROM jobs"
                " WHERE job_id = %s AND tenant_id <> %s RETURNING id, tenant_id",
                (actor.subject, actor.tenant, ADMIN_JOBS, action, job_id, actor.tenant),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        log.info(
            "admin action on another tenant",
            extra={
                "tenant_id": row["tenant_id"],
                "job_id": job_id,
                "fields": {
                    "audit_id": row["id"],
                    "actor": actor.subject,
                    "actor_tenant": actor.tenant,
                    "scope": ADMIN_JOBS,
                    "action": action,
                },
            },
        )
        return str(row["tenant_id"])

    async def record(
        self, actor: Principal, scope: str, action: str, tenant_id: str, target: str
    ) -> None:
        """Record an admin action on `tenant_id` (`*`: every tenant) before it runs."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO audit_log (actor, actor_tenant, scope, action, tenant_id, target)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (actor.subject, actor.tenant, scope, action, tenant_id, target),
            )
            row = await cur.fetchone()
        log.info(
            "admin action on another tenant",
            extra={
                "tenant_id": tenant_id,
                "fields": {
                    "audit_id": row["id"] if row else None,
                    "actor": actor.subject,
                    "actor_tenant": actor.tenant,
                    "scope": scope,
                    "action": action,
                    "target": target,
                },
            },
        )
