"""The `admin` dependency of the admin controllers: the verified caller bound to the audit log
and to its request, so a handler records its action and reads its body in one call each."""

from __future__ import annotations

from typing import Any, Final

from litestar import Request
from litestar.di import Provide

from services.common.auth import Principal
from services.common.bodies import Body, strict_body
from services.status.adapters.audit import AuditLog


class AdminCall:
    """One call of an admin route: who makes it, where its actions are recorded, its request."""

    def __init__(
        self, principal: Principal, audit: AuditLog, request: Request[Any, Any, Any]
    ) -> None:
        self.principal = principal
        self.audit = audit
        self.request = request

    async def body(self, kind: type[Body]) -> Body:
        """The request's body as `kind`, read without coercion (400 with the reason)."""
        return await strict_body(self.request, kind)

    async def record(self, scope: str, action: str, tenant_id: str, target: str) -> None:
        """Record the caller's `action` under `scope` on `tenant_id` (`*`: every tenant) in the
        audit log, before it runs."""
        await self.audit.record(self.principal, scope, action, tenant_id, target)


ADMIN_CALL: Final = Provide(AdminCall, sync_to_thread=False)
"""The `admin` dependency of a controller, from the app's `principal` and `audit`."""
