"""`sluice up|down|ps|token|demo`."""

from __future__ import annotations

import argparse
import os
import sys

from services.cli.stack import SERVICES, Stack, StackConfig
from services.common.auth import SCOPES, issue_token
from services.common.settings import DEV_JWT_SECRET


def _secret() -> str:
    return os.environ.get("SLUICE_JWT_SECRET", DEV_JWT_SECRET)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sluice` command."""
    parser = argparse.ArgumentParser(prog="sluice", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start Kafka, Postgres and the four services (idempotent)")
    sub.add_parser("down", help="stop what `up` started")
    sub.add_parser("ps", help="show which services are running")
    token = sub.add_parser("token", help="print a development JWT")
    token.add_argument("--tenant", default="acme")
    token.add_argument("--subject", default="dev")
    token.add_argument("--scope", action="append", choices=SCOPES)
    demo = sub.add_parser("demo", help="up, then upload the examples and search them")
    demo.add_argument("--tenant", default="demo")
    args = parser.parse_args(argv)

    if args.command == "token":
        scopes = tuple(args.scope or ("documents:write", "documents:read"))
        print(issue_token(args.tenant, _secret(), subject=args.subject, scopes=scopes))
        return 0
    stack = Stack(StackConfig.from_env())
    if args.command == "up":
        stack.up()
    elif args.command == "down":
        stack.down()
    elif args.command == "ps":
        for name in SERVICES:
            pid = stack.service_pid(name)
            print(f"{name:<9} {'running pid ' + str(pid) if pid else 'stopped'}")
    elif args.command == "demo":
        from services.cli.demo import run_demo  # noqa: PLC0415 - httpx only for the demo

        stack.up()
        ports = stack.config.ports
        ok = run_demo(
            f"http://127.0.0.1:{ports['ingest']}",
            f"http://127.0.0.1:{ports['status']}",
            issue_token(args.tenant, _secret()),
        )
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
