-- Vector sets: one table per (embedding model, dimensions, chunking), each with a fixed
-- vector(N) column and an HNSW index (services/common/vectors/). The old `chunks` table
-- (untyped `vector`, every model in one table, no ANN index) is moved into one set per
-- (model, dimensions) and replaced by a read-only view over every set.

-- Iterative index scans (tenant filters that cannot starve an HNSW search) need pgvector 0.8.
ALTER EXTENSION vector UPDATE;
DO $$
BEGIN
    IF string_to_array((SELECT extversion FROM pg_extension WHERE extname = 'vector'), '.')::int[]
        < ARRAY[0, 8] THEN
        RAISE EXCEPTION 'pgvector 0.8 or newer is needed (installed: %); upgrade the package',
            (SELECT extversion FROM pg_extension WHERE extname = 'vector');
    END IF;
END $$;

-- Every set; its table is named by the services (chunks_<16 hex of the key>).
CREATE TABLE IF NOT EXISTS vector_sets (
    id             int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model          text NOT NULL,
    dimensions     int NOT NULL CHECK (dimensions > 0),
    -- NULL for a set moved from the old table: its chunking was not recorded.
    chunk_tokens   int CHECK (chunk_tokens > 0),
    chunk_overlap  int CHECK (chunk_overlap >= 0),
    table_name     text NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (model, dimensions, chunk_tokens, chunk_overlap)
);

-- The set each tenant's searches read (and its new uploads are written to). One row per
-- tenant: switching is one atomic update. The foreign key keeps an active set from pruning.
CREATE TABLE IF NOT EXISTS active_vector_sets (
    tenant_id     text PRIMARY KEY,
    set_id        int NOT NULL REFERENCES vector_sets (id),
    activated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS active_vector_sets_set ON active_vector_sets (set_id);

-- Reprocess jobs writing a set: prune keeps a set while any of them has not ended.
CREATE TABLE IF NOT EXISTS vector_set_jobs (
    job_id        text PRIMARY KEY,
    set_id        int NOT NULL REFERENCES vector_sets (id) ON DELETE CASCADE,
    tenant_id     text NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS vector_set_jobs_set ON vector_set_jobs (set_id);

-- Move the old table's rows: one set per (model, dimensions), largest first; each tenant
-- searches the largest set it has rows in (`sluice activate` changes that).
DO $$
DECLARE
    legacy record;
    tbl text;
    new_id int;
BEGIN
    IF to_regclass('chunks') IS NULL OR (
        SELECT relkind FROM pg_class WHERE oid = to_regclass('chunks')
    ) <> 'r' THEN
        RETURN;
    END IF;
    FOR legacy IN
        SELECT embedding_model, vector_dims(embedding) AS dims, count(*) AS n
        FROM chunks GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
    LOOP
        tbl := 'chunks_' || left(encode(sha256(convert_to(
            legacy.embedding_model || chr(31) || legacy.dims || chr(31) || 'legacy', 'UTF8'
        )), 'hex'), 16);
        EXECUTE format(
            'CREATE TABLE %I (tenant_id text NOT NULL, document_id text NOT NULL,'
            ' chunk_index int NOT NULL, text text NOT NULL, start_char int NOT NULL,'
            ' end_char int NOT NULL, token_count int NOT NULL, page int, heading text,'
            ' embedding vector(%s) NOT NULL, source_event_id text NOT NULL,'
            ' updated_at timestamptz NOT NULL DEFAULT now(),'
            ' PRIMARY KEY (document_id, chunk_index))', tbl, legacy.dims);
        EXECUTE format(
            'INSERT INTO %I (tenant_id, document_id, chunk_index, text, start_char, end_char,'
            ' token_count, page, heading, embedding, source_event_id, updated_at)'
            ' SELECT tenant_id, document_id, chunk_index, text, start_char, end_char,'
            ' token_count, page, heading, embedding, source_event_id, updated_at FROM chunks'
            ' WHERE embedding_model = %L AND vector_dims(embedding) = %s',
            tbl, legacy.embedding_model, legacy.dims);
        EXECUTE format('CREATE INDEX %I ON %I (tenant_id, document_id)', tbl || '_tenant', tbl);
        IF legacy.dims <= 2000 THEN  -- pgvector's HNSW limit for `vector`
            EXECUTE format(
                'CREATE INDEX %I ON %I USING hnsw (embedding vector_cosine_ops)'
                ' WITH (m = 16, ef_construction = 64)', tbl || '_hnsw', tbl);
        END IF;
        INSERT INTO vector_sets (model, dimensions, table_name)
            VALUES (legacy.embedding_model, legacy.dims, tbl) RETURNING id INTO new_id;
        INSERT INTO active_vector_sets (tenant_id, set_id)
            SELECT DISTINCT tenant_id, new_id FROM chunks
            WHERE embedding_model = legacy.embedding_model
            AND vector_dims(embedding) = legacy.dims
            ON CONFLICT (tenant_id) DO NOTHING;
    END LOOP;
    DROP TABLE chunks;
END $$;

-- The view that stands where the old table was: every set's rows, with its id and model
-- (services/common/vectors/registry.py rebuilds it, in this shape, whenever sets change).
DO $$
DECLARE
    parts text;
BEGIN
    SELECT string_agg(format(
        'SELECT %s::int AS set_id, %L::text AS embedding_model, document_id, chunk_index,'
        ' tenant_id, text, start_char, end_char, token_count, source_event_id, updated_at,'
        ' page, heading, embedding::vector AS embedding FROM %I', id, model, table_name
    ), ' UNION ALL ' ORDER BY id) INTO parts FROM vector_sets;
    IF parts IS NULL THEN
        parts := 'SELECT NULL::int AS set_id, NULL::text AS embedding_model,'
            ' NULL::text AS document_id, NULL::int AS chunk_index, NULL::text AS tenant_id,'
            ' NULL::text AS text, NULL::int AS start_char, NULL::int AS end_char,'
            ' NULL::int AS token_count, NULL::text AS source_event_id,'
            ' NULL::timestamptz AS updated_at, NULL::int AS page, NULL::text AS heading,'
            ' NULL::vector AS embedding WHERE false';
    END IF;
    EXECUTE 'CREATE OR REPLACE VIEW chunks AS ' || parts;
END $$;
