-- An upload's limits in one statement each (services/ingest/adapters/usage.py).
--
-- Admitting an upload (byte quota left, rate window, a slot) and charging its bytes were
-- several statements in a transaction: 6 and 4 round trips to the database per upload, about
-- 8 ms of an upload's ~25 ms on a quiet machine. Here each is one function, called as one
-- statement that is its own transaction: one round trip each. The rules are the same as in
-- 007_limits.sql: overrides in tenant_limits (NULL: the setting, 0: unlimited), fixed windows
-- by the database's clock, slots counted over live ingest processes under a per-tenant lock.

-- The start of the current fixed window of p_window_s seconds.
CREATE OR REPLACE FUNCTION sluice_window_start(p_window_s integer) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT to_timestamp(floor(extract(epoch FROM now()) / p_window_s) * p_window_s)
$$;

-- Seconds until the current window of p_window_s seconds ends.
CREATE OR REPLACE FUNCTION sluice_seconds_left(p_window_s integer) RETURNS float8
LANGUAGE sql STABLE AS $$
    SELECT (p_window_s - mod(extract(epoch FROM now())::numeric, p_window_s))::float8
$$;

-- Add p_amount to the tenant's p_kind ('uploads' or 'bytes') in the current window unless that
-- passes p_limit; whether it was added.
CREATE OR REPLACE FUNCTION sluice_count_use(
    p_tenant text, p_kind text, p_amount bigint, p_limit bigint, p_window_s integer
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_start timestamptz := sluice_window_start(p_window_s);
BEGIN
    IF p_amount > p_limit THEN
        RETURN false;
    END IF;
    INSERT INTO tenant_usage AS u (tenant_id, kind, window_start, window_end, used)
    VALUES (p_tenant, p_kind, v_start, v_start + make_interval(secs => p_window_s), p_amount)
    ON CONFLICT (tenant_id, kind, window_start)
    DO UPDATE SET used = u.used + EXCLUDED.used WHERE u.used + EXCLUDED.used <= p_limit;
    RETURN FOUND;
END
$$;

-- Admit one upload of p_tenant by ingest process p_holder, all or none: the byte quota is not
-- used up, the upload counts in the rate window, and (when slots are limited) the tenant's
-- uploads in flight over live processes (seen within p_ttl_s) are below the limit, so p_holder
-- takes one. The p_* limits are the settings; the tenant's overrides win. `refused` names the
-- limit that refused it ('quota', 'rate', 'busy'; NULL: admitted) with its value and the
-- seconds until its window renews; `slot`: whether a slot was taken (to give back).
CREATE OR REPLACE FUNCTION sluice_admit(
    p_tenant text, p_holder text,
    p_rate integer, p_rate_s integer, p_quota bigint, p_quota_s integer,
    p_slots integer, p_ttl_s float8,
    OUT refused text, OUT limit_value bigint, OUT retry_after_s float8, OUT slot boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_used bigint;
BEGIN
    slot := false;
    SELECT coalesce(l.uploads_per_window, p_rate), coalesce(l.bytes_per_window, p_quota),
           coalesce(l.concurrent_uploads, p_slots)
      INTO p_rate, p_quota, p_slots
      FROM (SELECT 1) AS one LEFT JOIN tenant_limits l ON l.tenant_id = p_tenant;
    IF p_quota > 0 THEN
        SELECT used INTO v_used FROM tenant_usage
         WHERE tenant_id = p_tenant AND kind = 'bytes'
           AND window_start = sluice_window_start(p_quota_s);
        IF coalesce(v_used, 0) >= p_quota THEN
            refused := 'quota'; limit_value := p_quota;
            retry_after_s := sluice_seconds_left(p_quota_s);
            RETURN;
        END IF;
    END IF;
    IF p_rate > 0 AND NOT sluice_count_use(p_tenant, 'uploads', 1, p_rate, p_rate_s) THEN
        refused := 'rate'; limit_value := p_rate; retry_after_s := sluice_seconds_left(p_rate_s);
        RETURN;
    END IF;
    IF p_slots = 0 THEN
        RETURN;
    END IF;
    -- Counting and taking under one lock per tenant: two processes never both take the last.
    PERFORM pg_advisory_xact_lock(20743, hashtext(p_tenant));
    INSERT INTO upload_slots (tenant_id, holder, in_flight)
    SELECT p_tenant, p_holder, 1
     WHERE (SELECT coalesce(sum(s.in_flight), 0) FROM upload_slots s
              JOIN ingest_instances i
                ON i.holder = s.holder AND i.seen_at > now() - make_interval(secs => p_ttl_s)
             WHERE s.tenant_id = p_tenant) < p_slots
    ON CONFLICT (tenant_id, holder) DO UPDATE SET in_flight = upload_slots.in_flight + 1;
    IF FOUND THEN
        slot := true;
        RETURN;
    END IF;
    refused := 'busy'; limit_value := p_slots;
    IF p_rate > 0 THEN  -- all or none: this upload does not count in the rate window
        UPDATE tenant_usage SET used = used - 1
         WHERE tenant_id = p_tenant AND kind = 'uploads'
           AND window_start = sluice_window_start(p_rate_s);
    END IF;
END
$$;

-- Count p_size bytes in the tenant's quota window (p_quota the setting; its override wins).
-- `refused`: 'too_large' (more than the whole quota), 'quota' (more than is left), NULL:
-- counted or no quota; with the quota and the seconds until its window renews.
CREATE OR REPLACE FUNCTION sluice_charge_bytes(
    p_tenant text, p_size bigint, p_quota bigint, p_quota_s integer,
    OUT refused text, OUT limit_value bigint, OUT retry_after_s float8
)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT coalesce(l.bytes_per_window, p_quota) INTO limit_value
      FROM (SELECT 1) AS one LEFT JOIN tenant_limits l ON l.tenant_id = p_tenant;
    IF limit_value = 0 THEN
        RETURN;
    ELSIF p_size > limit_value THEN
        refused := 'too_large';
    ELSIF NOT sluice_count_use(p_tenant, 'bytes', p_size, limit_value, p_quota_s) THEN
        refused := 'quota'; retry_after_s := sluice_seconds_left(p_quota_s);
    END IF;
END
$$;
