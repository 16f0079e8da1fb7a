-- pipestats's snapshot of the pipeline view's windows (services/pipestats), read by status's
-- GET /v1/pipeline. One row per stage, tenant ('' = every tenant) and window; the single row of
-- pipeline_snapshot says when it was taken (a snapshot with no rows is still a snapshot).
CREATE TABLE pipeline_snapshot (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    taken_at timestamptz NOT NULL,
    instance text NOT NULL
);

CREATE TABLE pipeline_windows (
    stage text NOT NULL,
    tenant_id text NOT NULL,
    seconds integer NOT NULL,
    done integer NOT NULL,
    failed integer NOT NULL,
    p95_stage_s double precision,
    PRIMARY KEY (stage, tenant_id, seconds)
);
