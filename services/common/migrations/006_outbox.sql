-- Ingest's outbox: an `uploads` row whose DocumentUploaded Kafka has not acknowledged
-- (published_at NULL) is published by the relay of whichever ingest process holds it, or of
-- any process once its holder is gone (services/ingest/relay.py).
--
-- holder: the ingest process whose send of the event is still pending (NULL: none; any relay
-- may take the row). A process is alive while its row in ingest_instances is fresh.
ALTER TABLE uploads ADD COLUMN IF NOT EXISTS holder text;
CREATE INDEX IF NOT EXISTS uploads_unpublished ON uploads (created_at) WHERE published_at IS NULL;

-- Every running ingest process, refreshed every few seconds (its heartbeat). Its pending sends
-- and its concurrent-upload slots count only while it is fresh.
CREATE TABLE IF NOT EXISTS ingest_instances (
    holder   text PRIMARY KEY,
    seen_at  timestamptz NOT NULL
);
