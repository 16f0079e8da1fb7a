"""`sluice up|down|ps|scale|demo`: the commands that run the local stack, a plugin of `sluice`.

pyproject.toml declares `add_commands` in the entry-point group `sluice.commands`, which
services/cli/main.py loads when it can; `python -m infra.local.cli` runs them without `sluice`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

import msgspec
from rich.console import Console

from infra.local.scale import Held, LocalReplicas, assignment, partitions_text, scale
from infra.local.stack import OPTIONAL, RUNNABLE, SERVICES, Stack, StackConfig, StackError
from infra.local.stack_config import STATE_FILE, UP_REPLICAS

if TYPE_CHECKING:  # a generic only to type checkers
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def _scale(text: str) -> tuple[str, int]:
    """`embedder=3` -> ("embedder", 3)."""
    name, _, count = text.partition("=")
    if name not in RUNNABLE or not count.isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected SERVICE=N with SERVICE one of {', '.join(RUNNABLE)} and N >= 0"
        )
    return name, int(count)


def add_commands(commands: Commands) -> None:
    """Add `up`, `down`, `ps`, `scale` and `demo` to the `sluice` command's sub-commands."""
    up = commands.add_parser("up", help="start Kafka, Postgres and the services (idempotent)")
    up.add_argument(
        "--scale",
        action="append",
        type=_scale,
        default=[],
        metavar="SERVICE=N",
        help="run N replicas of SERVICE (repeatable; default 1 each, pipestats included; 0: none)",
    )
    up.set_defaults(handler=_up)
    down = commands.add_parser("down", help="stop what `up` started, and all it left behind")
    down.set_defaults(handler=_down)
    ps = commands.add_parser(
        "ps", help="show which services run: pid, port and partitions held per replica"
    )
    ps.set_defaults(handler=_ps)
    scale = commands.add_parser(
        "scale",
        help="run N replicas of a service: start the missing, stop the surplus gracefully"
        " (SIGTERM: finish, commit, leave the group)",
    )
    scale.add_argument("counts", nargs="+", type=_scale, metavar="SERVICE=N")
    scale.set_defaults(handler=_scale_command)
    for name in ("replay", "rebuild-status"):  # they stop and start the stack's replicas
        if name in commands.choices:
            commands.choices[name].set_defaults(local_stack=LocalReplicas.running)
    demo = commands.add_parser("demo", help="up, then upload the examples and search them")
    demo.add_argument("--tenant", default="demo")
    demo.set_defaults(handler=_demo)


def _stack(scale: list[tuple[str, int]] | None = None, *, starting: bool = False) -> Stack:
    """The stack of this checkout, with `scale` over its replicas; `starting` (up, demo) a
    stack that is not running yet: UP_REPLICAS (pipestats included) under `scale`."""
    config = StackConfig.from_env()
    fresh = starting and not (config.run_dir / STATE_FILE).is_file()
    replicas = {**(UP_REPLICAS if fresh else config.replicas), **dict(scale or [])}
    return Stack(replace(config, replicas=replicas))


def _up_with_spinner(stack: Stack, *, json: bool = False) -> None:
    """`stack.up()`, showing what it waits for (Kafka, Postgres, each service) on a spinner."""
    if json:
        stack.up()
        return
    console = Console(stderr=True, highlight=False)
    with console.status("starting", spinner="dots") as spinner:
        stack.up(out=console.print, waiting=spinner.update)


def _up(args: argparse.Namespace) -> int:
    stack = _stack(args.scale, starting=True)
    json = getattr(args, "json", False)
    _up_with_spinner(stack, json=json)
    if json:
        addresses = {
            "ingest_url": stack.ingest_url,
            "status_url": stack.status_url,
            "console_url": f"{stack.status_url}/console",
            "kafka_bootstrap": stack.bootstrap,
            "database_url": stack.database_url,
            "logs": str(stack.config.run_dir / "logs"),
        }
        print(msgspec.json.format(msgspec.json.encode(addresses), indent=2).decode())
    return 0


def _down(args: argparse.Namespace) -> int:
    json = getattr(args, "json", False)
    done: list[str] = []
    try:
        _stack().down(out=done.append if json else print)
    except StackError as error:
        print(f"sluice down: {error}", file=sys.stderr)
        return 1
    if json:
        print(msgspec.json.format(msgspec.json.encode({"done": done}), indent=2).decode())
    return 0


def _ps_rows(stack: Stack) -> list[dict[str, object]]:
    """One row per running replica, with the partitions its consumer holds."""
    rows: list[dict[str, object]] = []
    for replica in stack.replicas():
        held = assignment(replica)
        rows.append(
            {
                "service": replica.service,
                "replica": replica.label,
                "pid": replica.pid,
                "port": replica.port,
                "group": held.group if held else None,
                "partitions": [[p.topic, p.partition] for p in held.partitions] if held else None,
                "lag": held.lag if held else None,
            }
        )
    return rows


def _ps(args: argparse.Namespace) -> int:
    stack = _stack()
    rows = _ps_rows(stack)
    if getattr(args, "json", False):
        print(msgspec.json.format(msgspec.json.encode(rows), indent=2).decode())
        return 0
    optional = [name for name in OPTIONAL if any(row["service"] == name for row in rows)]
    for name in (*SERVICES, *optional):  # an optional service is listed when it runs
        mine = [row for row in rows if row["service"] == name]
        for row in mine:
            line = f"{row['replica']:<11} running pid {row['pid']} port {row['port']}"
            held = row["partitions"]
            if isinstance(held, list):
                parts = [Held(topic, partition) for topic, partition in held]
                line += f" lag {row['lag']} {partitions_text(parts) or '(no partitions)'}"
            print(line)
        if not mine:
            print(f"{name:<11} stopped")
    return 0


def _scale_command(args: argparse.Namespace) -> int:
    stack = _stack()
    json = getattr(args, "json", False)
    try:
        started = scale(stack, dict(args.counts), out=_quiet if json else print)
    except StackError as error:
        print(f"sluice scale: {error}", file=sys.stderr)
        return 1
    if json:
        body = {"started": [r.label for r in started], "replicas": _ps_rows(stack)}
        print(msgspec.json.format(msgspec.json.encode(body), indent=2).decode())
        return 0
    return _ps(args)


def _quiet(_line: str) -> None:
    """Discard a progress line."""


def _demo(args: argparse.Namespace) -> int:
    from infra.local.demo import run_demo  # httpx only for the demo

    stack = _stack(starting=True)
    _up_with_spinner(stack)
    ok = run_demo(stack.ingest_url, stack.status_url, stack.token(args.tenant))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Run one of the local-stack commands (as `sluice` would)."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.cli",
        description="Run the local stack (Kafka, Postgres, the services) under .run/.",
    )
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
