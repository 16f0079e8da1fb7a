-- An upload's bytes and row in one statement (services/ingest/adapters/uploads_store.py).
--
-- Storing an upload was a transaction of six round trips on the response path (BEGIN, the
-- deletion barrier, the blob, the row, the blob's reference, COMMIT); with the model busy on
-- the same machine each costs a few milliseconds of waiting to be scheduled. Here it is one
-- function, called as one statement that is its own transaction: one round trip, the same
-- rules. p_upload is the row as JSON (every column of uploads), p_barrier the deletion
-- barrier's advisory lock key (services/common/deletions.py), taken shared.
CREATE OR REPLACE FUNCTION sluice_create_upload(p_upload jsonb, p_data bytea, p_barrier bigint)
RETURNS SETOF uploads
LANGUAGE plpgsql AS $$
DECLARE
    v_new uploads := jsonb_populate_record(NULL::uploads, p_upload);
    v_stored uploads;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(p_barrier);
    INSERT INTO blobs (sha256, size, media_type, data)
        VALUES (v_new.sha256, length(p_data), v_new.media_type, p_data)
        ON CONFLICT (sha256) DO NOTHING;
    INSERT INTO uploads SELECT (v_new).*
        ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING * INTO v_stored;
    IF NOT FOUND THEN
        -- The key is taken by a committed upload (ON CONFLICT waited for it): that one is the
        -- answer, and this statement's next snapshot sees it.
        SELECT * INTO v_stored FROM uploads
            WHERE tenant_id = v_new.tenant_id AND idempotency_key = v_new.idempotency_key;
    END IF;
    INSERT INTO blob_refs (sha256, tenant_id, document_id)
        VALUES (v_stored.sha256, v_stored.tenant_id, v_stored.document_id)
        ON CONFLICT DO NOTHING;
    RETURN NEXT v_stored;
END
$$;
