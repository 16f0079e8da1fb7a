-- Retry visibility on jobs: how many retries, when the next one is due, the last error.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS retries int NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS next_retry_at timestamptz;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS last_error_code text;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS last_error_message text;
