-- Replay of the status projection while it runs: `sluice replay --service status` (or POST
-- /v1/admin/replay) rewrites a group's stored offsets with a higher epoch; a projector whose
-- batch would store offsets under an older epoch rolls that batch back and seeks to the new
-- offsets instead (services/status/adapters/projector.py).
ALTER TABLE consumer_offsets ADD COLUMN IF NOT EXISTS epoch bigint NOT NULL DEFAULT 0;
