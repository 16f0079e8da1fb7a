-- Sluice schema v1: blob store, uploads, job projection, chunks.
CREATE EXTENSION IF NOT EXISTS vector;

-- Content-addressed blob store (claim check). Rows are immutable.
CREATE TABLE IF NOT EXISTS blobs (
    sha256      text PRIMARY KEY,
    size        bigint NOT NULL,
    media_type  text NOT NULL,
    data        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every accepted upload, written by ingest before the event is produced.
CREATE TABLE IF NOT EXISTS uploads (
    job_id           text PRIMARY KEY,
    tenant_id        text NOT NULL,
    idempotency_key  text,
    document_id      text NOT NULL,
    event_id         text NOT NULL,
    sha256           text NOT NULL,
    filename         text NOT NULL,
    media_type       text NOT NULL,
    size             bigint NOT NULL,
    metadata         jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS uploads_idempotency
    ON uploads (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Job state, projected by the status service from the pipeline topics.
CREATE TABLE IF NOT EXISTS jobs (
    job_id           text PRIMARY KEY,
    tenant_id        text NOT NULL,
    document_id      text NOT NULL,
    state            text NOT NULL,
    state_rank       int NOT NULL,
    attempt          int NOT NULL DEFAULT 1,
    filename         text,
    media_type       text,
    size             bigint,
    title            text,
    page_count       int,
    chunk_count      int,
    embedding_model  text,
    error_stage      text,
    error_code       text,
    error_message    text,
    queued_at        timestamptz,
    parsing_at       timestamptz,
    parsed_at        timestamptz,
    embedding_at     timestamptz,
    indexed_at       timestamptz,
    failed_at        timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS jobs_tenant_state ON jobs (tenant_id, state, job_id);
CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs (tenant_id, job_id);
CREATE INDEX IF NOT EXISTS jobs_document ON jobs (document_id);

-- Every event applied to a job; event_id makes a replay a no-op.
CREATE TABLE IF NOT EXISTS job_events (
    event_id     text PRIMARY KEY,
    job_id       text NOT NULL,
    tenant_id    text NOT NULL,
    type         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    topic        text NOT NULL,
    kafka_partition int NOT NULL,
    kafka_offset bigint NOT NULL,
    payload      jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS job_events_job ON job_events (job_id, occurred_at);

-- Consumer positions stored with the projection, in the same transaction.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    consumer_group  text NOT NULL,
    topic           text NOT NULL,
    kafka_partition int NOT NULL,
    next_offset     bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- Searchable chunks; the natural key makes re-embedding an upsert.
CREATE TABLE IF NOT EXISTS chunks (
    document_id      text NOT NULL,
    chunk_index      int NOT NULL,
    embedding_model  text NOT NULL,
    tenant_id        text NOT NULL,
    text             text NOT NULL,
    start_char       int NOT NULL,
    end_char         int NOT NULL,
    token_count      int NOT NULL,
    embedding        vector NOT NULL,
    source_event_id  text NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, chunk_index, embedding_model)
);
CREATE INDEX IF NOT EXISTS chunks_tenant_model ON chunks (tenant_id, embedding_model);
