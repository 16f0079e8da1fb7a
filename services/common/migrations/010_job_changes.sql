-- Job history for the event streams (GET /v1/jobs/{id}/events, GET /v1/jobs/events): one row
-- each time a job's state, attempt or retry count changes, written by a trigger on `jobs` in
-- the writer's transaction (the projector's), so the history is exactly the projection's.
-- `tx` is the writing transaction's id: a reader takes rows in (tx, id) order and only of
-- transactions older than every one still running (pg_snapshot_xmin), so a row committed late
-- by a concurrent transaction is never skipped by a client resuming from a later id.
-- Each change also NOTIFYs channel `sluice_job_changes` with the tenant id (on commit).
CREATE TABLE IF NOT EXISTS job_changes (
    id            bigserial PRIMARY KEY,
    tx            bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    job_id        text NOT NULL,
    tenant_id     text NOT NULL,
    document_id   text NOT NULL,
    state         text NOT NULL,
    attempt       int NOT NULL,
    retries       int NOT NULL,
    error_stage   text,
    error_code    text,
    error_message text,
    changed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS job_changes_job ON job_changes (job_id, tx, id);
CREATE INDEX IF NOT EXISTS job_changes_tenant ON job_changes (tenant_id, tx, id);

CREATE OR REPLACE FUNCTION sluice_job_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.state IS DISTINCT FROM OLD.state
        OR NEW.attempt IS DISTINCT FROM OLD.attempt OR NEW.retries IS DISTINCT FROM OLD.retries
    THEN
        INSERT INTO job_changes (job_id, tenant_id, document_id, state, attempt, retries,
                                 error_stage, error_code, error_message)
        VALUES (NEW.job_id, NEW.tenant_id, NEW.document_id, NEW.state, NEW.attempt, NEW.retries,
                NEW.error_stage, NEW.error_code, NEW.error_message);
        PERFORM pg_notify('sluice_job_changes', NEW.tenant_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS jobs_changed ON jobs;
CREATE TRIGGER jobs_changed AFTER INSERT OR UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION sluice_job_changed();

-- Jobs projected before this migration start their history with their current state.
INSERT INTO job_changes (job_id, tenant_id, document_id, state, attempt, retries, error_stage,
                         error_code, error_message, changed_at)
SELECT job_id, tenant_id, document_id, state, attempt, retries, error_stage, error_code,
       error_message, updated_at
FROM jobs WHERE NOT EXISTS (SELECT 1 FROM job_changes c WHERE c.job_id = jobs.job_id);

-- The pipeline view (GET /v1/pipeline): its windows are the changes of the last minutes, the
-- oldest unfinished job per stage comes from a partial index (terminal rows are not in it).
CREATE INDEX IF NOT EXISTS job_changes_changed_at ON job_changes (changed_at);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (job_id)
    WHERE state IN ('queued', 'parsing', 'parsed', 'embedding');
