-- Per-tenant upload limits, shared by every ingest replica (services/ingest/adapters/usage.py).

-- Overrides of the SLUICE_TENANT_* defaults for one tenant: NULL keeps the default, 0 means
-- unlimited. Read on every upload: a change applies at once, without a restart.
CREATE TABLE IF NOT EXISTS tenant_limits (
    tenant_id           text PRIMARY KEY,
    uploads_per_window  integer CHECK (uploads_per_window >= 0),
    bytes_per_window    bigint CHECK (bytes_per_window >= 0),
    concurrent_uploads  integer CHECK (concurrent_uploads >= 0),
    note                text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- What each tenant used in a fixed window: kind 'uploads' (requests admitted) or 'bytes'
-- (bytes stored). One row per (tenant, kind, window), grown by an atomic upsert that refuses
-- to pass the limit. Rows of windows long over are deleted by the ingest heartbeat.
CREATE TABLE IF NOT EXISTS tenant_usage (
    tenant_id     text NOT NULL,
    kind          text NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    used          bigint NOT NULL,
    PRIMARY KEY (tenant_id, kind, window_start)
);
CREATE INDEX IF NOT EXISTS tenant_usage_window_end ON tenant_usage (window_end);

-- Uploads in flight per tenant and ingest process; they count while the process is alive
-- (ingest_instances), so a crashed process leaks nothing.
CREATE TABLE IF NOT EXISTS upload_slots (
    tenant_id  text NOT NULL,
    holder     text NOT NULL,
    in_flight  integer NOT NULL CHECK (in_flight >= 0),
    PRIMARY KEY (tenant_id, holder)
);
CREATE INDEX IF NOT EXISTS upload_slots_holder ON upload_slots (holder);
