"""pipestats's pure parts: what an event means for a stage, the p95, and windows folded from
buckets (per tenant and over every tenant)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.events import (
    BlobRef,
    DocumentFailed,
    DocumentIndexed,
    DocumentParsed,
    DocumentUploaded,
    Stage,
    StageStarted,
)
from services.pipestats.core.observe import Timing, observations
from services.pipestats.core.windows import ALL_TENANTS, Bucket, Figures, fold, p95

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 30, tzinfo=UTC)
BLOB = BlobRef(sha256="0" * 64, size=1, media_type="text/plain")


def _envelope() -> dict[str, Any]:
    return {"event_id": "e", "occurred_at": AT, "tenant_id": "t", "job_id": "j", "document_id": "d"}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (StageStarted(**_envelope(), stage=Stage.PARSE), [("start", "parse")]),
        (StageStarted(**_envelope(), stage=Stage.EMBED), [("start", "embed")]),
        (StageStarted(**_envelope(), stage=Stage.INGEST), []),
        (DocumentParsed(**_envelope(), text=BLOB), [("done", "parse")]),
        (
            DocumentIndexed(**_envelope(), chunk_count=1, embedding_model="m", dimensions=3),
            [("done", "embed")],
        ),
        (
            DocumentFailed(**_envelope(), stage=Stage.EMBED, code="c", message="m"),
            [("failed", "embed")],
        ),
        (DocumentFailed(**_envelope(), stage=Stage.INGEST, code="c", message="m"), []),
        (DocumentUploaded(**_envelope(), blob=BLOB, filename="a.txt"), []),
    ],
    ids=[
        "parse start",
        "embed start",
        "ingest start",
        "parsed",
        "indexed",
        "embed failed",
        "ingest failed",
        "uploaded",
    ],
)
def test_an_event_is_its_stage_s_start_end_or_failure_and_one_projected(
    event: Any, expected: list[tuple[str, str]]
) -> None:
    seen = observations(event)
    assert [(o.kind, o.stage) for o in seen] == [*expected, ("done", "project")]
    assert {(o.tenant_id, o.job_id, o.at) for o in seen} == {("t", "j", AT.timestamp())}


def test_a_timing_takes_end_minus_start_once_both_are_known_whatever_came_first() -> None:
    assert Timing(end=12.0).took() is None
    assert Timing(start=10.0).took() is None
    assert Timing(start=10.0, end=12.5).took() == 2.5
    assert Timing(start=12.0, end=10.0).took() == 0.0  # clocks of two producers: never negative


def test_p95_interpolates_like_percentile_cont() -> None:
    assert p95([]) is None
    assert p95([4.0]) == 4.0
    assert p95([float(n) for n in range(20, 0, -1)]) == pytest.approx(19.05)
    assert p95([1.0, 2.0]) == pytest.approx(1.95)


def test_windows_sum_the_buckets_started_within_them_per_tenant_and_over_all() -> None:
    now = 1000.0
    rows = [
        ("parse", "a", now - 10, Bucket(done=2, took=[1.0, 3.0])),
        ("parse", "b", now - 55, Bucket(done=1, failed=1, took=[5.0])),
        ("parse", "a", now - 120, Bucket(done=4, failed=2)),  # only in the 5-minute window
        ("parse", "a", now - 300, Bucket(done=9)),  # in neither: started 300 s ago
        ("embed", "b", now - 200, Bucket(failed=1)),
    ]
    got = {(f.stage, f.tenant_id, f.seconds): f for f in fold(rows, now)}
    assert got["parse", ALL_TENANTS, 60] == Figures(
        stage="parse", tenant_id="", seconds=60, done=3, failed=1, p95_stage_s=4.8
    )
    assert got["parse", ALL_TENANTS, 300].done == 7
    assert got["parse", ALL_TENANTS, 300].failed == 3
    assert got["parse", "a", 60].done == 2
    assert got["parse", "a", 60].p95_stage_s == pytest.approx(2.9)
    assert got["parse", "b", 300].p95_stage_s == 5.0
    # a stage with work only in the longer window still has its short window, at zero
    assert got["embed", "b", 60] == Figures(
        stage="embed", tenant_id="b", seconds=60, done=0, failed=0, p95_stage_s=None
    )
    assert got["embed", ALL_TENANTS, 300].failed == 1
    assert len(got) == (3 + 2) * 2  # parse: all, a, b; embed: all, b; two windows each
