"""`sluice`: the production commands (`token`), and those of any installed plugin.

A plugin is a function in the entry-point group `sluice.commands` that adds sub-commands; the
local stack's `up`, `down`, `ps` and `demo` come that way from infra/local/cli.py, which the
deployable image does not contain: there `sluice` runs without them and says how to get them.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import entry_points

from services.common.auth import ADMIN_SCOPES, SCOPES, issue_token
from services.common.settings import DEV_JWT_SECRET

PLUGINS = "sluice.commands"
DEV_HINT = (
    "The local-stack commands (up, down, ps, demo) come with a source checkout: run"
    " `make install` there (pip install -e '.[dev,local]'), or `python -m infra.local.cli`."
)


def _token(args: argparse.Namespace) -> int:
    scopes = tuple(args.scope or ("documents:write", "documents:read"))
    production = os.environ.get("SLUICE_ENV") == "production"
    if production and set(scopes) & set(ADMIN_SCOPES):
        print(
            "sluice: refusing to mint an admin token with SLUICE_ENV=production: admin scopes"
            " come from your identity provider, to named people, audited there",
            file=sys.stderr,
        )
        return 2
    secret = os.environ.get("SLUICE_JWT_SECRET") or ("" if production else DEV_JWT_SECRET)
    if not secret:
        print("sluice: SLUICE_JWT_SECRET is not set (production has no default)", file=sys.stderr)
        return 2
    print(issue_token(args.tenant, secret, subject=args.subject, scopes=scopes))
    return 0


def _load_plugins(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[str]:
    """Let each installed plugin add its commands; return why any could not be loaded."""
    problems: list[str] = []
    seen: set[str] = set()
    for plugin in entry_points(group=PLUGINS):
        if plugin.name in seen:  # one name from two installs (e.g. a stale one): the first
            continue
        seen.add(plugin.name)
        try:
            add_commands = plugin.load()
        except ImportError as error:
            problems.append(f"{plugin.value}: {error}")
            continue
        add_commands(commands)
    return problems


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sluice` command."""
    words = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="sluice", description="Sluice's command line.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    token = commands.add_parser("token", help="print a development JWT")
    token.add_argument("--tenant", default="acme")
    token.add_argument("--subject", default="dev")
    token.add_argument("--scope", action="append", choices=SCOPES)
    token.set_defaults(handler=_token)
    problems = _load_plugins(commands)
    if problems or "up" not in commands.choices:
        parser.epilog = DEV_HINT + "".join(f" Not loaded: {problem}." for problem in problems)
        if words and not words[0].startswith("-") and words[0] not in commands.choices:
            print(f"sluice: no command {words[0]!r} here. {parser.epilog}", file=sys.stderr)
            return 2
    args = parser.parse_args(words)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
