-- What embedding a job's document took from its provider: {"provider", "model", "tokens",
-- "requests"} from DocumentIndexed.usage; NULL for jobs indexed before embedders reported it.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS usage jsonb;
