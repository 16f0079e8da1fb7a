-- Citations: the page each chunk starts on (PDF page, PPTX slide; 1-based) and the nearest
-- heading above it. NULL where the format has none, and for chunks stored before this.
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS page int;
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS heading text;
