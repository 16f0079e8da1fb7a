"""Tenants' limits and the outbox's claims on a real Postgres, as several ingest processes
share them: each process has its own pool and holder name, the counts are the database's."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from schemas.events import now, uuid7
from services.common.db import Pool, migrate, open_pool
from services.ingest.adapters.uploads_store import PostgresUploadsStore
from services.ingest.adapters.usage import PostgresTenantUsage
from services.ingest.core.limits import LimitedError, TenantLimits, Windows
from services.ingest.core.ports import UploadRecord

pytestmark = pytest.mark.integration

TTL_S = 1.5  # short, so that a process that stops beating is gone within the test
LIMITLESS = TenantLimits()


@pytest.fixture
async def pools(fresh_database: str) -> AsyncIterator[tuple[Pool, Pool]]:
    """Two pools on one fresh, migrated database: two ingest processes."""
    assert {"006_outbox.sql", "007_limits.sql"} <= set(await migrate(fresh_database))
    first = await open_pool(fresh_database, max_size=4, name="ingest-a")
    second = await open_pool(fresh_database, max_size=4, name="ingest-b")
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def _usage(pool: Pool, limits: TenantLimits, windows: Windows | None = None) -> PostgresTenantUsage:
    return PostgresTenantUsage(pool, limits, windows or Windows(), instance_ttl_s=TTL_S)


async def _live_processes(
    pools: tuple[Pool, Pool], limits: TenantLimits
) -> tuple[PostgresTenantUsage, PostgresTenantUsage]:
    """Two processes' usage (one per pool), holders "a" and "b", each having beaten once."""
    first, second = (_usage(pool, limits) for pool in pools)
    for usage, holder in ((first, "a"), (second, "b")):
        await usage.beat(holder, {})
    return first, second


async def _admitted(usage: PostgresTenantUsage, tenant: str, holder: str) -> bool | LimitedError:
    try:
        return await usage.admit(tenant, holder)
    except LimitedError as refused:
        return refused


async def test_two_processes_share_one_tenants_rate(pools: tuple[Pool, Pool]) -> None:
    limits = TenantLimits(uploads_per_window=5)
    first, second = (_usage(pool, limits, Windows(rate_s=3600)) for pool in pools)

    answers = await asyncio.gather(
        *(_admitted(usage, "acme", f"h{i}") for i in range(6) for usage in (first, second))
    )

    refused = [a for a in answers if isinstance(a, LimitedError)]
    assert len(answers) - len(refused) == 5
    assert {r.status for r in refused} == {429}
    assert all(r.retry_after_s is not None and 1 <= r.retry_after_s <= 3600 for r in refused)
    assert await first.admit("globex", "h0") is False, "another tenant has its own count"


async def test_the_rate_resets_with_its_window(pools: tuple[Pool, Pool]) -> None:
    usage = _usage(pools[0], TenantLimits(uploads_per_window=2), Windows(rate_s=2))
    # Start at the beginning of a window, so both admissions fall in the same one.
    await asyncio.sleep(2 - time.time() % 2 + 0.05)
    await usage.admit("acme", "h")
    await usage.admit("acme", "h")
    with pytest.raises(LimitedError) as refused:
        await usage.admit("acme", "h")

    assert refused.value.status == 429
    assert refused.value.retry_after_s in (1, 2)
    await asyncio.sleep(refused.value.retry_after_s or 0)
    assert await usage.admit("acme", "h") is False, "a new window, a new count"


async def test_the_byte_quota(pools: tuple[Pool, Pool]) -> None:
    first, second = (_usage(pool, TenantLimits(bytes_per_window=100)) for pool in pools)

    await first.charge_bytes("acme", 60)
    with pytest.raises(LimitedError) as over:
        await second.charge_bytes("acme", 41)
    with pytest.raises(LimitedError) as larger:
        await second.charge_bytes("acme", 101)
    await second.charge_bytes("acme", 40)
    with pytest.raises(LimitedError) as used_up:
        await first.admit("acme", "h")  # refused before any body is read

    assert over.value.status == 429 and over.value.retry_after_s
    assert larger.value.status == 413
    assert used_up.value.status == 429 and "quota renews in" in used_up.value.detail
    await first.charge_bytes("globex", 100)


async def test_concurrent_uploads_are_counted_over_live_processes(
    pools: tuple[Pool, Pool],
) -> None:
    limits = TenantLimits(concurrent_uploads=2)
    first, second = await _live_processes(pools, limits)

    assert await first.admit("acme", "a") is True
    assert await second.admit("acme", "b") is True
    with pytest.raises(LimitedError) as busy:
        await first.admit("acme", "a")
    assert (busy.value.status, busy.value.retry_after_s) == (429, 1)

    await second.release("acme", "b")
    assert await first.admit("acme", "a") is True  # b's slot was given back: acme holds 2 on a
    await asyncio.sleep(TTL_S + 0.2)  # a stops beating (it crashed): its slots stop counting
    await second.beat("b", {})
    assert await second.admit("acme", "b") is True
    assert await second.admit("acme", "b") is True
    await second.leave("b")  # b stops: its slots go with it
    await first.beat("a", {})
    assert await first.admit("acme", "a") is True


async def test_an_upload_refused_for_its_slot_does_not_count_in_the_rate(
    pools: tuple[Pool, Pool],
) -> None:
    limits = TenantLimits(uploads_per_window=2, concurrent_uploads=1)
    first, _ = await _live_processes(pools, limits)
    first.windows = Windows(rate_s=3600)

    assert await first.admit("acme", "a") is True
    with pytest.raises(LimitedError) as busy:
        await first.admit("acme", "a")
    await first.release("acme", "a")

    assert "in flight" in busy.value.detail
    assert await first.admit("acme", "a") is True, "all or none: the refused one used nothing"


async def test_slots_are_taken_atomically_by_concurrent_processes(
    pools: tuple[Pool, Pool],
) -> None:
    limits = TenantLimits(concurrent_uploads=3)
    first, second = await _live_processes(pools, limits)

    replicas = ((first, "a"), (second, "b"))
    answers = await asyncio.gather(
        *(_admitted(usage, "acme", holder) for _ in range(5) for usage, holder in replicas)
    )

    assert sum(answer is True for answer in answers) == 3


async def test_a_tenants_overrides_win_over_the_settings(pools: tuple[Pool, Pool]) -> None:
    usage = _usage(pools[0], TenantLimits(uploads_per_window=1, bytes_per_window=10))
    async with pools[0].connection() as conn:
        await conn.execute(
            "INSERT INTO tenant_limits (tenant_id, uploads_per_window, bytes_per_window)"
            " VALUES ('bigco', 0, NULL), ('tiny', 1, 5)"
        )

    for _ in range(3):
        await usage.admit("bigco", "h")  # 0: unlimited
    with pytest.raises(LimitedError):
        await usage.charge_bytes("bigco", 11)  # NULL: the setting's 10
    with pytest.raises(LimitedError) as tiny:
        await usage.charge_bytes("tiny", 6)

    assert tiny.value.status == 413 and "quota of 5 bytes" in tiny.value.detail
    assert await _admitted(usage, "default", "h") is False
    assert isinstance(await _admitted(usage, "default", "h"), LimitedError)


def _record(holder: str | None, age_s: float) -> UploadRecord:
    return UploadRecord(
        job_id=uuid7(),
        tenant_id="acme",
        document_id=str(uuid.uuid4()),
        event_id=uuid7(),
        sha256="0" * 64,
        filename="a.txt",
        media_type="text/plain",
        size=1,
        metadata={},
        created_at=now() - timedelta(seconds=age_s),
        holder=holder,
    )


async def test_relays_claim_what_no_live_process_sends_and_never_the_same_twice(
    pools: tuple[Pool, Pool],
) -> None:
    first, second = (PostgresUploadsStore(pool, instance_ttl_s=TTL_S) for pool in pools)
    relays = {"alive": first, "relay-b": second, "relay-c": first, "relay-d": second}
    usage = _usage(pools[0], LIMITLESS)
    await usage.beat("dead", {})
    await asyncio.sleep(TTL_S + 0.2)
    for holder in relays:
        await usage.beat(holder, {})
    free = [await first.create(_record(None, 60), b"x") for _ in range(20)]
    of_the_dead = await first.create(_record("dead", 60), b"x")
    of_the_living = await first.create(_record("alive", 60), b"x")
    pending_here = await first.create(_record("alive", 60), b"x")  # "alive" is sending it
    too_young = await first.create(_record(None, 0), b"x")
    published = await first.create(_record(None, 60), b"x")
    await first.mark_published(published.job_id)
    sending: dict[str, list[str]] = {holder: [] for holder in relays}
    sending["alive"].append(pending_here.job_id)

    async def claim(holder: str, limit: int) -> list[str]:
        batch = await relays[holder].claim_unpublished(
            holder, pending=sending[holder], limit=limit, min_age_s=5
        )
        return [record.job_id for record in batch if record.holder == holder]

    at_once = await asyncio.gather(*(claim(holder, 6) for holder in relays))
    for holder, jobs in zip(relays, at_once, strict=True):
        sending[holder] += jobs
    then = [await claim(holder, 100) for holder in relays]  # each relay's next round

    claimed = [job for jobs in (*at_once, *then) for job in jobs]
    assert len(claimed) == len(set(claimed)), "an upload was claimed twice"
    assert set(claimed) == {r.job_id for r in (*free, of_the_dead, of_the_living)}
    assert of_the_living.job_id in at_once[0] + then[0], "only its live holder takes it back"
    assert pending_here.job_id not in claimed and too_young.job_id not in claimed
    released_job = sending["relay-b"][0]
    await second.release(released_job)  # relay-b's send failed: any relay may take it
    assert await claim("relay-c", 100) == [released_job]
