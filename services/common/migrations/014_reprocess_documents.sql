-- The document of each reprocess job, so that deleting a document also covers its reprocess
-- jobs published but not yet projected (they have no `uploads` row and no `jobs` row yet).
-- Jobs recorded before this migration get the document their projected row names, if any.
ALTER TABLE vector_set_jobs ADD COLUMN IF NOT EXISTS document_id text;
UPDATE vector_set_jobs v SET document_id = j.document_id
    FROM jobs j WHERE j.job_id = v.job_id AND v.document_id IS NULL;
CREATE INDEX IF NOT EXISTS vector_set_jobs_document ON vector_set_jobs (tenant_id, document_id);
