-- A blob a job writes (the parser's text and layout), in one statement
-- (services/common/blobstore.py): under the deletion barrier (services/common/deletions.py,
-- p_barrier taken shared), refused if the job was deleted, else stored with its document's
-- reference. It was a transaction of six round trips (BEGIN, barrier, deletion check, blob,
-- reference, COMMIT); one function called as its own transaction is one. Returns false when
-- the job was deleted (nothing is written).
CREATE OR REPLACE FUNCTION sluice_put_owned_blob(
    p_sha256 text, p_media_type text, p_data bytea,
    p_job_id text, p_tenant_id text, p_document_id text, p_barrier bigint
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(p_barrier);
    IF EXISTS (SELECT 1 FROM deleted_jobs WHERE job_id = p_job_id) THEN
        RETURN false;
    END IF;
    INSERT INTO blobs (sha256, size, media_type, data)
        VALUES (p_sha256, length(p_data), p_media_type, p_data)
        ON CONFLICT (sha256) DO NOTHING;
    INSERT INTO blob_refs (sha256, tenant_id, document_id)
        VALUES (p_sha256, p_tenant_id, p_document_id)
        ON CONFLICT DO NOTHING;
    RETURN true;
END
$$;
