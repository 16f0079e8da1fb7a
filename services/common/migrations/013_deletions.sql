-- Deleting a document (DELETE /v1/documents/{id}). A job of a deleted document is recorded
-- in deleted_jobs; every stage skips an event of a recorded job, so neither a replay nor a
-- late event of that job brings the document back, while a later upload (a new job) is
-- processed. deleted_documents answers a repeated DELETE; blob_refs says which documents
-- still need a blob, so a deletion removes only the blobs no other document refers to.
CREATE TABLE IF NOT EXISTS deleted_jobs (
    job_id       text PRIMARY KEY,
    tenant_id    text NOT NULL,
    document_id  text NOT NULL,
    deleted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS deleted_jobs_document ON deleted_jobs (tenant_id, document_id);

CREATE TABLE IF NOT EXISTS deleted_documents (
    tenant_id    text NOT NULL,
    document_id  text NOT NULL,
    deleted_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, document_id)
);

-- Which documents refer to a blob: the upload (ingest) and its extracted text and layout
-- (parser), written in the transaction that stores the blob.
CREATE TABLE IF NOT EXISTS blob_refs (
    sha256       text NOT NULL,
    tenant_id    text NOT NULL,
    document_id  text NOT NULL,
    PRIMARY KEY (sha256, tenant_id, document_id)
);
CREATE INDEX IF NOT EXISTS blob_refs_document ON blob_refs (tenant_id, document_id);

-- The references of what is stored already: uploads, and the text and layout of every
-- projected DocumentParsed.
INSERT INTO blob_refs (sha256, tenant_id, document_id)
    SELECT sha256, tenant_id, document_id FROM uploads
    ON CONFLICT DO NOTHING;
INSERT INTO blob_refs (sha256, tenant_id, document_id)
    SELECT ref, tenant_id, payload->>'document_id'
    FROM job_events,
        LATERAL (VALUES (payload->'text'->>'sha256'), (payload->'layout'->>'sha256')) AS r(ref)
    WHERE type = 'DocumentParsed' AND ref IS NOT NULL
    ON CONFLICT DO NOTHING;
