"""`sluice replay`: rewind a consumer service's group and show, per partition, what is redone;
`sluice rebuild-status`: rebuild the status projection from the topics and swap it in.

It talks to Kafka (and, for status, Postgres) directly. Kafka alters a group's offsets only
while the group has no member: with a local stack (`sluice up`), the stack's plugin lends this
command a `ReplicaControl`, and the service's replicas are stopped gracefully, the group
rewound, and the replicas started again; elsewhere stop them yourself (the command refuses,
naming the members, while any is active). The status projector follows a replay while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from services.cli.exits import CliError, Exit
from services.cli.output import Output
from services.cli.topics import kafka_options, pipeline_settings, run_kafka_command
from services.common.db import migrate
from services.common.kafka.replay import GroupActiveError, ReplayPlan, ReplayTarget
from services.common.settings import PipelineSettings
from services.status.rebuild import rebuild_status
from services.status.replay import REPLAYABLE, offset_store, replay_service

if TYPE_CHECKING:  # a generic only to type checkers
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

LEAVE_WAIT_S = 30.0  # a member that died without leaving is dropped after its session timeout


class ReplicaControl(Protocol):
    """What a local stack lends `replay` and `rebuild-status`: its settings, its replicas."""

    def environment(self) -> dict[str, str]:
        """The SLUICE_* environment its services run with (Kafka, Postgres, groups)."""

    def stop(self, service: str) -> list[str]:
        """Stop every replica of `service` gracefully; return their labels."""

    def start(self, labels: list[str]) -> None:
        """Start those replicas again and wait until they are ready."""


LocalStack = Callable[[], ReplicaControl | None]


def target_of(args: argparse.Namespace) -> ReplayTarget:
    """The ReplayTarget of --to-time / --to-offset."""
    if args.to_time is not None:
        try:
            when = datetime.fromisoformat(args.to_time)
        except ValueError as error:
            raise CliError(
                f"--to-time {args.to_time!r} is not an ISO 8601 time", Exit.USAGE
            ) from error
        return ReplayTarget(to_time=when if when.tzinfo else when.replace(tzinfo=UTC))
    text = args.to_offset
    if text in ("earliest", "latest"):
        return ReplayTarget(to_offset=text)
    if not text.isdigit():
        raise CliError(f"--to-offset {text!r}: earliest, latest or an offset >= 0", Exit.USAGE)
    return ReplayTarget(to_offset=int(text))


def add_commands(subs: SubParsers) -> None:
    """Add `replay`."""
    text = (
        "rewind a consumer group to a time or an offset and reprocess from there (effects are"
        " idempotent: nothing is stored twice); shows per partition what is redone"
    )
    replay = subs.add_parser("replay", help=text, description=text, parents=[kafka_options()])
    replay.add_argument("--service", required=True, choices=sorted(REPLAYABLE))
    where = replay.add_mutually_exclusive_group(required=True)
    where.add_argument("--to-time", metavar="ISO", help="the first record at or after this time")
    where.add_argument("--to-offset", metavar="earliest|latest|N", help="an offset per partition")
    replay.add_argument("--dry-run", action="store_true", help="only show what would be redone")
    replay.add_argument("--database-url", help="status only (else SLUICE_DATABASE_URL)")
    replay.set_defaults(handler=_replay)
    text = (
        "rebuild the status projection (jobs, job events) from the topics into fresh tables,"
        " compare them with the live ones and swap them in; the running status follows"
    )
    rebuild = subs.add_parser(
        "rebuild-status", help=text, description=text, parents=[kafka_options()]
    )
    rebuild.add_argument("--dry-run", action="store_true", help="rebuild and compare only")
    rebuild.add_argument("--database-url", help="else SLUICE_DATABASE_URL")
    rebuild.set_defaults(handler=_rebuild)


def settings_for(args: argparse.Namespace) -> tuple[PipelineSettings, ReplicaControl | None]:
    """The pipeline's settings (a running local stack's, if any) and its replicas."""
    found: LocalStack | None = getattr(args, "local_stack", None)
    local = found() if found is not None else None
    return pipeline_settings(args, local.environment() if local else None), local


async def _empty(settings: PipelineSettings, service: str) -> None:
    """Wait until the service's group has no member left (GroupActiveError after a while)."""
    store = offset_store(settings, service)
    deadline = time.monotonic() + LEAVE_WAIT_S
    while members := await store.members():
        if time.monotonic() > deadline:
            raise GroupActiveError(store.group, members)
        await asyncio.sleep(0.5)


async def _run(args: argparse.Namespace, out: Output) -> int:
    settings, local = settings_for(args)
    target = target_of(args)
    service = args.service
    if service == "status":
        await migrate(settings.database_url)
    stopped: list[str] = []
    if local is not None and not args.dry_run and service != "status":
        stopped = local.stop(service)  # Kafka alters offsets only of an empty group
        if stopped:
            out.note(f"stopped {', '.join(stopped)}")
    try:
        if stopped:
            await _empty(settings, service)
        plan = await replay_service(settings, service, target, dry_run=args.dry_run)
    finally:
        if stopped and local is not None:
            local.start(stopped)
            out.note(f"started {', '.join(stopped)} again")
    show_plan(out, plan)
    return Exit.OK


def show_plan(out: Output, plan: ReplayPlan) -> None:
    """The plan as a table (only partitions that change) and a summary line."""
    if out.json_mode:
        out.json(plan)
        return
    rows = [
        (p.topic, str(p.partition), str(p.current), str(p.new), str(p.end), str(p.redo or ""))
        for p in plan.partitions
        if p.current != p.new
    ]
    columns = ("topic", "partition", "current", "new", "end", "redo")
    out.table(f"{plan.service} ({plan.group}) {plan.target}", columns, rows)
    done = "rewound" if plan.applied else "dry run: nothing changed"
    text = f"{done}: {plan.redo} records to redo"
    if plan.skip:
        text += f", {plan.skip} skipped"
    out.note(f"{text} over {len(plan.partitions)} partitions ({len(rows)} move)")


async def _run_rebuild(args: argparse.Namespace, out: Output) -> int:
    settings, _ = settings_for(args)
    report = await rebuild_status(settings, dry_run=args.dry_run)
    if out.json_mode:
        out.json(report)
        return Exit.OK
    rows = [
        ("jobs", str(report.jobs), str(report.differing_jobs)),
        ("job_events", str(report.job_events), str(report.differing_job_events)),
    ]
    out.table(f"status projection ({report.group})", ("table", "rows", "differing"), rows)
    done = "swapped in" if report.swapped else "dry run: the live tables are unchanged"
    out.note(f"{report.records} records read ({report.undecodable} undecodable); {done}")
    return Exit.OK


def _rebuild(args: argparse.Namespace) -> int:
    return run_kafka_command(args, "rebuild-status", _run_rebuild, timeout_s=900)


def _replay(args: argparse.Namespace) -> int:
    try:
        return run_kafka_command(args, "replay", _run, timeout_s=300)
    except GroupActiveError as error:
        raise CliError(f"replay: {error}", Exit.REFUSED) from error
