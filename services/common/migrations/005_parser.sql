-- Which parser read each job's document: 'local' (the sandbox) or 'llamaparse'. NULL for jobs
-- parsed before it was recorded, and for jobs not parsed yet.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS parser text;
