"""`sluice topics create|list`: the Kafka topics as the SLUICE_TOPIC_* settings describe them.

These talk to Kafka directly (SLUICE_KAFKA_BOOTSTRAP or --bootstrap), not to a service: a
production deployment runs `sluice topics create` once before the services start.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import msgspec
import psycopg
from aiokafka.errors import KafkaError

from services.cli.exits import CliError, Exit
from services.cli.output import Output
from services.common.kafka.admin import (
    CLEANUP,
    MIN_INSYNC,
    RETENTION,
    ReplicationError,
    TopicSpec,
    TopicState,
    admin_client,
    create_topics,
    topic_specs,
    topic_states,
)
from services.common.settings import PipelineSettings, SettingsError, load_settings

if TYPE_CHECKING:  # a generic only to type checkers
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def kafka_options() -> argparse.ArgumentParser:
    """Options of the commands that talk to Kafka and Postgres directly."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON document"
    )
    options.add_argument("--bootstrap", help="Kafka servers (else SLUICE_KAFKA_BOOTSTRAP)")
    return options


def pipeline_settings(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> PipelineSettings:
    """The pipeline's SLUICE_* settings (from `environ`, else the process's environment),
    with --bootstrap and --database-url applied."""
    try:
        settings = load_settings(PipelineSettings, environ)
    except SettingsError as error:
        raise CliError(str(error), Exit.USAGE) from error
    overrides: dict[str, str] = {}
    if getattr(args, "bootstrap", None):
        overrides["kafka_bootstrap"] = args.bootstrap
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return msgspec.structs.replace(settings, **overrides) if overrides else settings


def add_commands(subs: SubParsers) -> None:
    """Add `topics create` and `topics list`."""
    group = subs.add_parser("topics", help="create and check the Kafka topics (SLUICE_TOPIC_*)")
    actions = group.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    text = (
        "create the missing topics with the settings' partitions, replication (default 3,"
        " min.insync.replicas 2) and retention; existing topics are left as they are"
    )
    create = actions.add_parser("create", help=text, description=text, parents=[kafka_options()])
    create.add_argument(
        "--replication-factor",
        type=int,
        metavar="N",
        help="replicas per topic (else SLUICE_TOPIC_REPLICATION_FACTOR, 3; a local single"
        " broker: 1)",
    )
    create.add_argument(
        "--partitions", type=int, metavar="N", help="else SLUICE_TOPIC_PARTITIONS (12)"
    )
    create.set_defaults(handler=_create)
    text = "each topic as it is on the cluster beside what the settings want"
    listing = actions.add_parser("list", help=text, description=text, parents=[kafka_options()])
    listing.set_defaults(handler=_list)


def retention_text(ms: str | None) -> str:
    """`14d`, `36h`, `forever` for a `retention.ms` value."""
    if ms is None or not ms.lstrip("-").isdigit():
        return "?"
    value = int(ms)
    if value < 0:
        return "forever"
    hours, rest = divmod(value, 3_600_000)
    if rest:
        return f"{value}ms"
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def _row(state: TopicState, result: str) -> tuple[str, ...]:
    spec: TopicSpec = state.wanted
    configs = state.configs if state.exists else spec.configs
    return (
        state.name,
        str(state.partitions if state.exists else spec.partitions),
        str(state.replication_factor if state.exists else spec.replication_factor),
        retention_text(configs.get(RETENTION)),
        configs.get(MIN_INSYNC, "?"),
        configs.get(CLEANUP, "?"),
        result,
    )


COLUMNS = ("topic", "partitions", "replicas", "retention", "min.insync", "cleanup", "state")


def _show(out: Output, states: list[TopicState], results: dict[str, str]) -> None:
    if out.json_mode:
        out.json(
            {
                "topics": [
                    {
                        "topic": s.name,
                        "state": results[s.name],
                        "partitions": s.partitions,
                        "replication_factor": s.replication_factor,
                        "configs": s.configs,
                        "wanted": s.wanted,
                        "differences": s.differences(),
                    }
                    for s in states
                ]
            }
        )
        return
    out.table(None, COLUMNS, [_row(s, results[s.name]) for s in states])
    for state in states:
        if state.differences():
            out.note(f"{state.name} differs from the settings: {'; '.join(state.differences())}")


async def _run_create(args: argparse.Namespace, out: Output) -> int:
    settings = pipeline_settings(args)
    for name in ("replication_factor", "partitions"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CliError(f"--{name.replace('_', '-')} must be at least 1", Exit.USAGE)
    specs = topic_specs(
        settings, replication_factor=args.replication_factor, partitions=args.partitions
    )
    async with admin_client(settings.kafka_bootstrap, "sluice-cli") as admin:
        created = set(await create_topics(admin, specs))
        states = await topic_states(admin, specs)
    results = {
        s.name: "created" if s.name in created else ("differs" if s.differences() else "exists")
        for s in states
    }
    _show(out, states, results)
    if not out.json_mode:
        out.note(f"{len(created)} created, {len(states) - len(created)} existed")
    return Exit.OK


async def _run_list(args: argparse.Namespace, out: Output) -> int:
    settings = pipeline_settings(args)
    specs = topic_specs(settings)
    async with admin_client(settings.kafka_bootstrap, "sluice-cli") as admin:
        states = await topic_states(admin, specs)
    results = {
        s.name: ("differs" if s.differences() else "ok") if s.exists else "missing" for s in states
    }
    _show(out, states, results)
    return Exit.OK if all(s.exists for s in states) else Exit.NOT_FOUND


Command = Callable[[argparse.Namespace, Output], Awaitable[int]]


def run_kafka_command(
    args: argparse.Namespace, command: str, run: Command, *, timeout_s: float = 120
) -> int:
    """Run an async command against Kafka (and Postgres), their errors as exit codes."""
    out = Output(json=bool(getattr(args, "json", False)))
    try:
        return int(asyncio.run(asyncio.wait_for(run(args, out), timeout_s)))
    except ReplicationError as error:
        raise CliError(f"{command}: {error}", Exit.USAGE) from error
    except psycopg.OperationalError as error:
        raise CliError(f"{command}: Postgres did not answer: {error}", Exit.UNREACHABLE) from error
    except (KafkaError, TimeoutError, OSError) as error:
        reason = str(error) or type(error).__name__
        raise CliError(f"{command}: Kafka did not answer: {reason}", Exit.UNREACHABLE) from error


def _create(args: argparse.Namespace) -> int:
    return run_kafka_command(args, "topics create", _run_create)


def _list(args: argparse.Namespace) -> int:
    return run_kafka_command(args, "topics list", _run_list)
