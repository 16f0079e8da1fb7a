"""pipestats's app without a broker: halves of a stage timing whose other half never came are
dropped after SLUICE_PIPESTATS_TIMING_KEEP_S, and its changelogs expire (its JSON log lines:
tests/integration/test_pipestats.py)."""

from __future__ import annotations

import msgspec
import pytest

from services.common import metrics
from services.common.settings import load_settings
from services.pipestats.app import Pipestats, changelog_topics
from services.pipestats.config import PipestatsSettings
from services.pipestats.core.observe import Timing, stale

pytestmark = pytest.mark.unit

NOW = 1_000_000.0


def _sample(name: str) -> float:
    return metrics.REGISTRY.get_sample_value(name) or 0.0


def _settings(**env: str) -> PipestatsSettings:
    return load_settings(PipestatsSettings, {"SLUICE_PIPESTATS_TIMING_KEEP_S": "60", **env})


def test_stale_names_the_timings_noted_longer_ago_than_the_keep() -> None:
    timings = [
        ("parse\told", Timing(start=1.0, noted=NOW - 61)),
        ("parse\tfresh", Timing(end=2.0, noted=NOW - 59)),
        ("embed\tunknown", Timing(start=3.0)),  # noted before `noted` existed: 0
    ]
    assert stale(timings, NOW, 60) == ["parse\told", "embed\tunknown"]


def test_expire_drops_old_halves_from_the_table_and_counts_them() -> None:
    app = Pipestats(_settings(), "test")
    store = app.timings.data
    store["parse\told"] = msgspec.to_builtins(Timing(start=1.0, noted=NOW - 3600))
    store["embed\tfresh"] = msgspec.to_builtins(Timing(end=2.0, noted=NOW - 1))
    expired = _sample("sluice_pipestats_timings_expired_total")

    assert app.expire(NOW) == 1

    assert list(store.keys()) == ["embed\tfresh"]
    assert _sample("sluice_pipestats_timings_expired_total") == expired + 1
    assert _sample("sluice_pipestats_pending_timings") == 1


def test_the_timings_changelog_is_kept_as_long_as_a_half_waits() -> None:
    topics = {t.name: t.configs for t in changelog_topics(_settings(), 1)}
    timings = topics["sluice-pipestats-timings-changelog"]
    assert timings == {"cleanup.policy": "compact,delete", "retention.ms": "60000"}
