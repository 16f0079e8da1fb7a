"""`sluice up|down|ps|demo`: the commands that run the local stack, a plugin of `sluice`.

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

from infra.local.stack import SERVICES, Stack, StackConfig, StackError

if TYPE_CHECKING:  # a generic only to type checkers
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def _scale(text: str) -> tuple[str, int]:
    """`embedder=3` -> ("embedder", 3)."""
    name, _, count = text.partition("=")
    if name not in SERVICES or not count.isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected SERVICE=N with SERVICE one of {', '.join(SERVICES)} and N >= 0"
        )
    return name, int(count)


def add_commands(commands: Commands) -> None:
    """Add `up`, `down`, `ps` and `demo` to the `sluice` command's sub-commands."""
    up = commands.add_parser("up", help="start Kafka, Postgres and the services (idempotent)")
    up.add_argument(
        "--scale",
        action="append",
        type=_scale,
        default=[],
        metavar="SERVICE=N",
        help="run N replicas of SERVICE (repeatable; default 1 each, 0: none)",
    )
    up.set_defaults(handler=_up)
    down = commands.add_parser("down", help="stop what `up` started, and all it left behind")
    down.set_defaults(handler=_down)
    ps = commands.add_parser("ps", help="show which services run: pid and port per replica")
    ps.set_defaults(handler=_ps)
    demo = commands.add_parser("demo", help="up, then upload the examples and search them")
    demo.add_argument("--tenant", default="demo")
    demo.set_defaults(handler=_demo)


def _stack(scale: list[tuple[str, int]] | None = None) -> Stack:
    config = StackConfig.from_env()
    if scale:
        config = replace(config, replicas={**config.replicas, **dict(scale)})
    return Stack(config)


def _up_with_spinner(stack: Stack, *, json: bool = False) -> None:
    """`stack.up()`, showing what it waits for (Kafka, Postgres, each service) on a spinner."""
    if json:
        stack.up()
        return
    console = Console(stderr=True, highlight=False)
    with console.status("starting", spinner="dots") as spinner:
        stack.up(out=console.print, waiting=spinner.update)


def _up(args: argparse.Namespace) -> int:
    stack = _stack(args.scale)
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


def _ps(args: argparse.Namespace) -> int:
    stack = _stack()
    running = stack.replicas()
    if getattr(args, "json", False):
        rows = [
            {"service": r.service, "replica": r.label, "pid": r.pid, "port": r.port}
            for r in running
        ]
        print(msgspec.json.format(msgspec.json.encode(rows), indent=2).decode())
        return 0
    for name in SERVICES:
        mine = [replica for replica in running if replica.service == name]
        for replica in mine:
            print(f"{replica.label:<11} running pid {replica.pid} port {replica.port}")
        if not mine:
            print(f"{name:<11} stopped")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from infra.local.demo import run_demo  # httpx only for the demo

    stack = _stack()
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
