"""`sluice`: upload, follow, search and re-drive from the command line, plus any plugin's commands.

A plugin is a function in the entry-point group `sluice.commands` that adds sub-commands; the
local stack's `up`, `down`, `ps` and `demo` come that way from infra/local/cli.py, which the
deployable image does not contain: there `sluice` runs without them and says how to get them.
Exit codes are in services/cli/exits.py and docs/cli.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from services.cli import commands, replay, topics, vectors
from services.cli.client import Api
from services.cli.config import CliConfig, config_path, load_config, token_tenant
from services.cli.delete import delete
from services.cli.exits import CliError, Exit
from services.cli.output import Output
from services.cli.upload import run_upload
from services.common.auth import ADMIN_SCOPES, SCOPES, issue_token
from services.common.settings import DEV_JWT_SECRET

PLUGINS = "sluice.commands"
DEV_HINT = (
    "The local-stack commands (up, down, ps, demo) come with a source checkout: run"
    " `make install` there (pip install -e '.[dev,local]'), or `python -m infra.local.cli`."
)
STATES = ("queued", "parsing", "parsed", "embedding", "indexed", "failed")
Run = Callable[[Api, Output, argparse.Namespace], Awaitable[int]]
if TYPE_CHECKING:  # a generic only to type checkers
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _metadata(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    return key, value


def _options(*, sub: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (`sluice --json jobs`)."""
    options = argparse.ArgumentParser(add_help=False)
    unset = argparse.SUPPRESS if sub else None
    options.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if sub else False,
        help="machine output: one JSON document on stdout, no colours",
    )
    options.add_argument("--tenant", default=unset, help="tenant (picks its token from config)")
    options.add_argument("--token", default=unset, help="bearer token (else SLUICE_TOKEN)")
    options.add_argument("--ingest-url", default=unset, help="else SLUICE_INGEST_URL")
    options.add_argument("--status-url", default=unset, help="else SLUICE_STATUS_URL")
    return options


def _add(commands_: SubParsers, name: str, text: str, run: Run) -> argparse.ArgumentParser:
    parser = commands_.add_parser(name, help=text, description=text, parents=[_options(sub=True)])
    parser.set_defaults(run=run)
    return parser


def _build(parser: argparse.ArgumentParser) -> SubParsers:
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    upload = _add(subs, "upload", "upload files and folders", _upload)
    upload.add_argument("paths", nargs="+", metavar="PATH")
    upload.add_argument("--watch", action="store_true", help="follow the jobs until they end")
    upload.add_argument(
        "--metadata", action="append", type=_metadata, default=[], metavar="KEY=VALUE"
    )
    upload.add_argument("--concurrency", type=int, default=4, help="uploads at once (4)")
    upload.add_argument("--timeout", type=float, default=600, help="--watch gives up after (s)")

    jobs = _add(subs, "jobs", "list jobs, newest first", _jobs)
    jobs.add_argument("--state", choices=STATES)
    jobs.add_argument("--limit", type=int, default=50)

    status = _add(subs, "status", "one job: state, timeline, error", _status)
    status.add_argument("job_id", metavar="JOB")
    status.add_argument("--watch", action="store_true", help="follow it until it ends")
    status.add_argument("--timeout", type=float, default=600)

    search = _add(subs, "search", "semantic search with citations", _search)
    search.add_argument("query")
    search.add_argument("--top-k", type=int, default=5)

    remove = _add(
        subs, "delete", "delete a document: blobs, chunks, jobs; no replay revives it", _delete
    )
    remove.add_argument("document_id", metavar="DOCUMENT")

    dlq = subs.add_parser("dlq", help="dead-lettered records: list, show, retry")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = _add(dlq_commands, "list", "the newest dead letters", _dlq_list)
    listing.add_argument("--topic", help="one pipeline topic (default: all)")
    listing.add_argument("--limit", type=int, default=50)
    show = _add(dlq_commands, "show", "one dead letter with its payload", _dlq_show)
    show.add_argument("ref", metavar="TOPIC/PARTITION/OFFSET")
    retry = _add(dlq_commands, "retry", "re-drive a dead letter's (or a failed) job", _dlq_retry)
    retry.add_argument("target", metavar="REF|JOB")

    vectors.add_commands(subs, _add)

    token = subs.add_parser("token", help="print a development JWT", parents=[_options(sub=True)])
    token.add_argument("--subject", default="dev")
    token.add_argument("--scope", action="append", choices=SCOPES)
    token.set_defaults(handler=_token)

    config = subs.add_parser(
        "config", help="show the URLs and tenant in use", parents=[_options(sub=True)]
    )
    config.set_defaults(handler=_config)
    topics.add_commands(subs)
    replay.add_commands(subs)
    return subs


async def _upload(api: Api, out: Output, args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise CliError("--concurrency must be at least 1", Exit.USAGE)
    return await run_upload(
        api,
        out,
        args.paths,
        metadata=dict(args.metadata),
        watch=args.watch,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
    )


async def _jobs(api: Api, out: Output, args: argparse.Namespace) -> int:
    return await commands.jobs(api, out, state=args.state, limit=args.limit)


async def _status(api: Api, out: Output, args: argparse.Namespace) -> int:
    return await commands.status(api, out, args.job_id, watch=args.watch, timeout_s=args.timeout)


async def _search(api: Api, out: Output, args: argparse.Namespace) -> int:
    return await commands.search(api, out, args.query, top_k=args.top_k)


async def _delete(api: Api, out: Output, args: argparse.Namespace) -> int:
    return await delete(api, out, args.document_id)


async def _dlq_list(api: Api, out: Output, args: argparse.Namespace) -> int:
    return await commands.dlq_list(api, out, topic=args.topic, limit=args.limit)


async def _dlq_show(api: Api, out: Output, args: argparse.Namespace) -> int:
    return await commands.dlq_show(api, out, args.ref)


async def _dlq_retry(api: Api, out: Output, args: argparse.Namespace) -> int:
    return await commands.dlq_retry(api, out, args.target)


def _token(args: argparse.Namespace) -> int:
    scopes = tuple(args.scope or ("documents:write", "documents:read"))
    production = os.environ.get("SLUICE_ENV") == "production"
    if production and set(scopes) & set(ADMIN_SCOPES):
        print(
            "sluice: refusing to mint an admin token with SLUICE_ENV=production: admin scopes"
            " come from your identity provider, to named people, audited there",
            file=sys.stderr,
        )
        return Exit.USAGE
    secret = os.environ.get("SLUICE_JWT_SECRET") or ("" if production else DEV_JWT_SECRET)
    if not secret:
        print("sluice: SLUICE_JWT_SECRET is not set (production has no default)", file=sys.stderr)
        return Exit.USAGE
    token = issue_token(args.tenant or "acme", secret, subject=args.subject, scopes=scopes)
    if args.json:
        Output(json=True).json({"token": token})
    else:
        print(token)
    return Exit.OK


def _config(args: argparse.Namespace) -> int:
    config = _load(args)
    shown = {
        "file": str(config_path(os.environ)),
        "ingest_url": config.ingest_url,
        "status_url": config.status_url,
        "tenant": config.tenant,
        "token_tenant": token_tenant(config.token),
    }
    out = Output(json=args.json)
    if args.json:
        out.json(shown)
    else:
        out.table(None, ("setting", "value"), [(k, str(v)) for k, v in shown.items()])
    return Exit.OK


def _load(args: argparse.Namespace) -> CliConfig:
    admin = bool(getattr(args, "admin", False))  # --tenant names the tenant acted on
    return load_config(
        token=args.token,
        tenant=None if admin else args.tenant,
        admin=admin,
        ingest_url=args.ingest_url,
        status_url=args.status_url,
    )


async def _call(run: Run, config: CliConfig, out: Output, args: argparse.Namespace) -> int:
    async with Api(config) as api:
        return await run(api, out, args)


def _load_plugins(subs: SubParsers) -> list[str]:
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
        add_commands(subs)
    for sub in subs.choices.values():  # --json on every command, a plugin's too
        if "--json" not in sub._option_string_actions and sub._subparsers is None:
            sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    return problems


def parser_with_plugins() -> tuple[argparse.ArgumentParser, SubParsers, list[str]]:
    """The `sluice` argument parser, its sub-commands, and the plugins that failed to load."""
    parser = argparse.ArgumentParser(
        prog="sluice",
        description="Sluice's command line: upload, follow, search, re-drive; for admins,"
        " reprocess into vector sets, activate and prune them.",
        parents=[_options(sub=False)],
        epilog="Exit codes: 0 ok, 1 a job failed or an upload was refused, 2 usage or"
        " configuration, 3 service unreachable or failing, 4 unauthorised, 5 not found,"
        " 6 refused, 7 --watch timed out (docs/cli.md).",
    )
    subs = _build(parser)
    return parser, subs, _load_plugins(subs)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sluice` command."""
    words = sys.argv[1:] if argv is None else argv
    parser, subs, problems = parser_with_plugins()
    if problems or "up" not in subs.choices:
        parser.epilog = f"{parser.epilog} {DEV_HINT}" + "".join(
            f" Not loaded: {problem}." for problem in problems
        )
        if words and not words[0].startswith("-") and words[0] not in subs.choices:
            print(f"sluice: no command {words[0]!r} here. {DEV_HINT}", file=sys.stderr)
            return Exit.USAGE
    args = parser.parse_args(words)
    out = Output(json=bool(getattr(args, "json", False)))
    try:
        if hasattr(args, "run"):
            config = _load(args)
            for note in config.notes:
                out.note(note)
            return int(asyncio.run(_call(args.run, config, out, args)))
        return int(args.handler(args))
    except CliError as error:
        out.error(str(error))
        return int(error.exit)
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
