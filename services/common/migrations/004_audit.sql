-- Audit log: every action a token takes on another tenant's data through an admin scope
-- (who: the token's subject and tenant; what: the action, its target and the scope used;
-- which tenant: the one acted on). Written before the action; never updated or deleted by
-- the services.
CREATE TABLE IF NOT EXISTS audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    actor_tenant text NOT NULL,
    scope text NOT NULL,
    action text NOT NULL,
    tenant_id text NOT NULL,
    target text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_tenant_at ON audit_log (tenant_id, at);
