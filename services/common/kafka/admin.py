"""Topics as settings: what each topic should be, creating the missing ones, and checking them.

`sluice topics create` creates them with production defaults (RF 3, min.insync.replicas 2);
a service creates missing topics itself only with `SLUICE_ENV=development` (capping the
replication factor at the broker count) and otherwise fails fast naming that command.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import NodeNotReadyError, TopicAlreadyExistsError, for_code

from schemas import topics
from services.common.settings import PipelineSettings

log = logging.getLogger(__name__)
NO_BROKER_TRIES = 5  # metadata requests while the client knows no broker (see existing_partitions)
CREATE_COMMAND = "sluice topics create"
# The per-topic settings `topics create` sets and `topics list` compares.
RETENTION = "retention.ms"
MIN_INSYNC = "min.insync.replicas"
CLEANUP = "cleanup.policy"
UNCLEAN = "unclean.leader.election.enable"
COMPARED = (RETENTION, MIN_INSYNC, CLEANUP)


class TopicSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What one topic should be: partitions, replicas and its per-topic configs."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


class TopicState(msgspec.Struct, frozen=True, kw_only=True):
    """What one topic is on the cluster (None: it does not exist) beside what it should be."""

    name: str
    wanted: TopicSpec
    partitions: int | None = None
    replication_factor: int | None = None
    configs: dict[str, str] = {}

    @property
    def exists(self) -> bool:
        """Whether the topic is on the cluster."""
        return self.partitions is not None

    def differences(self) -> list[str]:
        """How the topic differs from its spec, in words ([] when it matches or is missing)."""
        if not self.exists:
            return []
        found: list[str] = []
        if self.partitions != self.wanted.partitions:
            found.append(f"partitions {self.partitions} (settings: {self.wanted.partitions})")
        if self.replication_factor != self.wanted.replication_factor:
            found.append(
                f"replication factor {self.replication_factor}"
                f" (settings: {self.wanted.replication_factor})"
            )
        for key in COMPARED:
            want, have = self.wanted.configs.get(key), self.configs.get(key)
            if want is not None and have is not None and want != have:
                found.append(f"{key}={have} (settings: {want})")
        return found


class TopicsMissingError(RuntimeError):
    """Topics the pipeline needs do not exist and this process may not create them."""


class ReplicationError(ValueError):
    """The replication factor asked for exceeds the brokers the cluster has."""


def _family_retention(settings: PipelineSettings, name: str) -> int:
    if name.endswith(".dlq"):
        return settings.topic_dlq_retention_ms
    if name in topics.RETRY_TOPICS:
        return settings.topic_retry_retention_ms
    return settings.topic_retention_ms


def topic_specs(
    settings: PipelineSettings,
    *,
    replication_factor: int | None = None,
    partitions: int | None = None,
    names: Sequence[str] = topics.ALL_TOPICS,
) -> list[TopicSpec]:
    """The spec of each topic in `names` from the settings (options override the settings).

    The pipeline topics use `cleanup.policy=delete`: they are event logs (a job's every event
    is needed to replay or rebuild it), so compaction, which keeps one record per key, fits none
    of them. `schemas.topics.TOPIC_CONFIGS` overrides a topic's configs: the deletions topic is
    compacted (a deletion must outlive every retention window; the latest per document stays).
    `min.insync.replicas` is capped at the replication factor.
    """
    replicas = replication_factor or settings.topic_replication_factor
    count = partitions or settings.topic_partitions
    min_insync = min(settings.topic_min_insync_replicas, replicas)
    return [
        TopicSpec(
            name=name,
            partitions=count,
            replication_factor=replicas,
            configs={
                RETENTION: str(_family_retention(settings, name)),
                MIN_INSYNC: str(min_insync),
                CLEANUP: "delete",
                UNCLEAN: "false",
                **topics.TOPIC_CONFIGS.get(name, {}),
            },
        )
        for name in names
    ]


@asynccontextmanager
async def admin_client(bootstrap: str, client_id: str = "sluice-admin") -> AsyncIterator[Any]:
    """A started `AIOKafkaAdminClient`, closed on exit."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def broker_count(admin: Any) -> int:
    """How many brokers the cluster has now."""
    cluster = await admin.describe_cluster()
    return len(cluster.get("brokers", ()))


async def existing_topics(admin: Any) -> set[str]:
    """The names of the topics on the cluster."""
    return set(await admin.list_topics())


async def existing_partitions(admin: Any, names: Sequence[str]) -> list[TopicPartition]:
    """The partitions of those of `names` that exist.

    A just-started admin client can hold metadata without a broker for a moment (aiokafka then
    sends to node None: `NodeNotReadyError`; seen on a loaded CI machine as a 503 from
    `sluice dlq list`): refresh the metadata and ask again, a few times."""
    for attempt in range(1, NO_BROKER_TRIES + 1):
        try:
            described = await admin.describe_topics(list(names))
            break
        except NodeNotReadyError:
            if attempt == NO_BROKER_TRIES:
                raise
            await asyncio.sleep(0.2 * attempt)
            await admin._client.force_metadata_update()  # aiokafka has no public refresh
    return [
        TopicPartition(topic["topic"], part.get("partition_index", part.get("partition")))
        for topic in described
        if not topic.get("error_code")
        for part in topic.get("partitions", ())
    ]


async def create_topics(admin: Any, specs: Sequence[TopicSpec]) -> list[str]:
    """Create the topics of `specs` that do not exist; return the names created.

    ReplicationError, before creating anything, when a spec wants more replicas than the
    cluster has brokers.
    """
    brokers = await broker_count(admin)
    too_many = [spec for spec in specs if spec.replication_factor > brokers]
    if too_many:
        wanted = max(spec.replication_factor for spec in too_many)
        raise ReplicationError(
            f"replication factor {wanted} needs {wanted} brokers; the cluster has {brokers}"
            f" (a local single broker: --replication-factor 1)"
        )
    existing = await existing_topics(admin)
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return []
    new = [
        NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.configs))
        for s in missing
    ]
    try:
        response = await admin.create_topics(new)
    except TopicAlreadyExistsError:
        log.info("topics created concurrently by another process")
        return []
    created = []
    for name, code, *message in response.topic_errors:
        if code == TopicAlreadyExistsError.errno:
            continue
        if code:
            raise for_code(code)(f"creating topic {name} failed: {message}")
        created.append(name)
    return created


async def development_topics(settings: PipelineSettings, bootstrap: str) -> list[str]:
    """Create missing topics as a development service does: the settings, with the
    replication factor capped at the broker count (a local single broker gets RF 1)."""
    async with admin_client(bootstrap) as admin:
        brokers = max(1, await broker_count(admin))
        replicas = min(settings.topic_replication_factor, brokers)
        if replicas < settings.topic_replication_factor:
            log.info(
                "development: missing topics get replication factor %d (%d broker(s));"
                " production topics come from `%s`",
                replicas,
                brokers,
                CREATE_COMMAND,
            )
        return await create_topics(admin, topic_specs(settings, replication_factor=replicas))


async def missing_topics(bootstrap: str, names: Sequence[str] = topics.ALL_TOPICS) -> list[str]:
    """The topics of `names` that do not exist on the cluster."""
    async with admin_client(bootstrap) as admin:
        existing = await existing_topics(admin)
    return [name for name in names if name not in existing]


def refuse_missing(missing: Sequence[str]) -> None:
    """Raise TopicsMissingError naming `missing` and the command that creates them."""
    if missing:
        raise TopicsMissingError(
            f"Kafka topics missing: {', '.join(missing)}. Create them with `{CREATE_COMMAND}`"
            " (partitions, replication and retention from the SLUICE_TOPIC_* settings);"
            " services create topics themselves only with SLUICE_ENV=development"
        )


async def topic_states(admin: Any, specs: Sequence[TopicSpec]) -> list[TopicState]:
    """Each spec beside the topic as it is on the cluster."""
    described = {t["topic"]: t for t in await admin.describe_topics([s.name for s in specs])}
    present = [s.name for s in specs if not described.get(s.name, {}).get("error_code", 1)]
    configs: dict[str, dict[str, str]] = {}
    if present:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in present]
        for response in await admin.describe_configs(resources):
            for resource in response.to_object()["resources"]:
                configs[resource["resource_name"]] = {
                    entry["config_names"]: entry["config_value"]
                    for entry in resource["config_entries"]
                    if entry["config_names"] in COMPARED
                }
    states = []
    for spec in specs:
        if spec.name not in present:
            states.append(TopicState(name=spec.name, wanted=spec))
            continue
        parts = described[spec.name]["partitions"]
        states.append(
            TopicState(
                name=spec.name,
                wanted=spec,
                partitions=len(parts),
                replication_factor=max((len(p["replicas"]) for p in parts), default=0),
                configs=configs.get(spec.name, {}),
            )
        )
    return states


async def ensure_topics(
    bootstrap: str,
    names: Sequence[str] = topics.ALL_TOPICS,
    *,
    partitions: int = topics.DEFAULT_PARTITIONS,
    replication: int = 1,
) -> list[str]:
    """Create those of `names` that do not exist, with the default settings (`replication`
    1 unless given: tests and benchmarks on one broker); return the ones created."""
    settings = PipelineSettings(topic_partitions=partitions, topic_replication_factor=replication)
    async with admin_client(bootstrap) as admin:
        return await create_topics(admin, topic_specs(settings, names=names))
