"""Topics as settings (services/common/kafka/admin.py): the spec of every topic, comparisons."""

from __future__ import annotations

import pytest

from schemas import topics
from services.cli.topics import retention_text
from services.common.kafka.admin import (
    CLEANUP,
    MIN_INSYNC,
    RETENTION,
    TopicState,
    refuse_missing,
    topic_specs,
)
from services.common.settings import PipelineSettings, load_settings

pytestmark = pytest.mark.unit
DAY_MS = 24 * 3600 * 1000


def test_production_defaults_for_every_topic() -> None:
    specs = {spec.name: spec for spec in topic_specs(PipelineSettings())}
    assert set(specs) == set(topics.ALL_TOPICS)
    for spec in specs.values():
        assert (spec.partitions, spec.replication_factor) == (12, 3)
        assert spec.configs[MIN_INSYNC] == "2"
        if spec.name != topics.DOCUMENTS_DELETED:
            assert spec.configs[CLEANUP] == "delete"  # event logs: compaction would drop events
    # deletions outlive every retention window: the latest per document stays
    assert specs[topics.DOCUMENTS_DELETED].configs[CLEANUP] == "compact"
    assert specs[topics.dlq(topics.DOCUMENTS_DELETED)].configs[CLEANUP] == "delete"
    assert specs[topics.DOCUMENTS_UPLOADED].configs[RETENTION] == str(14 * DAY_MS)
    assert specs[topics.retry(topics.DOCUMENTS_PARSED)].configs[RETENTION] == str(7 * DAY_MS)
    assert specs[topics.dlq(topics.JOBS_PROGRESS)].configs[RETENTION] == str(30 * DAY_MS)


def test_settings_come_from_the_environment_and_options_override_them() -> None:
    settings = load_settings(
        PipelineSettings,
        {
            "SLUICE_TOPIC_PARTITIONS": "6",
            "SLUICE_TOPIC_REPLICATION_FACTOR": "5",
            "SLUICE_TOPIC_MIN_INSYNC_REPLICAS": "3",
            "SLUICE_TOPIC_RETENTION_MS": "-1",
            "SLUICE_TOPIC_DLQ_RETENTION_MS": "3600000",
        },
    )
    specs = {spec.name: spec for spec in topic_specs(settings)}
    parsed = specs[topics.DOCUMENTS_PARSED]
    assert (parsed.partitions, parsed.replication_factor) == (6, 5)
    assert parsed.configs[MIN_INSYNC] == "3"
    assert parsed.configs[RETENTION] == "-1"
    assert specs[topics.dlq(topics.DOCUMENTS_PARSED)].configs[RETENTION] == "3600000"
    local = topic_specs(settings, replication_factor=1, partitions=2, names=[topics.JOBS_PROGRESS])
    assert [(s.partitions, s.replication_factor, s.configs[MIN_INSYNC]) for s in local] == [
        (2, 1, "1")  # min.insync.replicas never above the replication factor
    ]


def test_differences_name_each_setting_that_does_not_match() -> None:
    (spec,) = topic_specs(PipelineSettings(), names=[topics.DOCUMENTS_UPLOADED])
    same = TopicState(
        name=spec.name,
        wanted=spec,
        partitions=12,
        replication_factor=3,
        configs={RETENTION: spec.configs[RETENTION], MIN_INSYNC: "2", CLEANUP: "delete"},
    )
    assert same.differences() == []
    other = TopicState(
        name=spec.name,
        wanted=spec,
        partitions=6,
        replication_factor=1,
        configs={RETENTION: "1000", MIN_INSYNC: "1", CLEANUP: "compact"},
    )
    assert other.differences() == [
        "partitions 6 (settings: 12)",
        "replication factor 1 (settings: 3)",
        f"retention.ms=1000 (settings: {14 * DAY_MS})",
        "min.insync.replicas=1 (settings: 2)",
        "cleanup.policy=compact (settings: delete)",
    ]
    assert TopicState(name=spec.name, wanted=spec).differences() == []  # missing: not "differs"


def test_a_missing_topic_is_refused_with_the_command_that_creates_it() -> None:
    refuse_missing([])
    with pytest.raises(RuntimeError, match=r"sluice\.jobs\.progress.*`sluice topics create`"):
        refuse_missing([topics.JOBS_PROGRESS])


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (str(14 * DAY_MS), "14d"),
        ("-1", "forever"),
        (str(36 * 3600 * 1000), "36h"),
        ("1500", "1500ms"),
        (None, "?"),
    ],
)
def test_retention_is_shown_in_days_or_hours(ms: str | None, text: str) -> None:
    assert retention_text(ms) == text
