"""`sluice reprocess|activate|prune|vector-sets`: a tenant's vector sets, for admins.

These act on the tenant named by `--tenant` with the caller's own (admin) token: the token
must hold `admin:replay`; every call is in the audit log.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from services.cli.client import Api
from services.cli.exits import CliError, Exit
from services.cli.output import Output, escape_markup
from services.common.vectors.sets import VectorSetView


def _tenant(args: argparse.Namespace) -> str:
    if not args.tenant:
        raise CliError("--tenant is required: the tenant whose vector sets to act on", Exit.USAGE)
    return str(args.tenant)


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as error:
        raise CliError(f"--since {text!r}: expected an ISO date or time", Exit.USAGE) from error
    if when.tzinfo is None:
        when = when.astimezone()  # a local time, as a person typed it
    return when.isoformat()


def _chunking(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if args.chunk_size is not None:
        body["chunk_tokens"] = args.chunk_size
    if args.chunk_overlap is not None:
        body["chunk_overlap"] = args.chunk_overlap
    return body


def _describe(vector_set: VectorSetView) -> str:
    return (
        f"set {vector_set.set_id}: {escape_markup(vector_set.embedding_model)}"
        f" ({vector_set.dimensions}-d, chunks {vector_set.chunking()})"
    )


async def reprocess(api: Api, out: Output, args: argparse.Namespace) -> int:
    """Re-run the tenant's documents through parse and embed into a new vector set."""
    body: dict[str, Any] = {
        "tenant_id": _tenant(args),
        "embedding_model": args.embedding_model,
        **_chunking(args),
    }
    if args.document:
        body["document_id"] = args.document
    since = _since(args.since)
    if since:
        body["since"] = since
    with out.spinner("starting the jobs"):
        done = await api.reprocess(body)
    if out.json_mode:
        out.json(done)
        return Exit.OK
    out.console.print(
        f"{len(done.jobs)} job(s) write {_describe(done.vector_set)} beside the tenant's"
        f" active set; follow them with `sluice jobs`, then `sluice activate --tenant"
        f" {escape_markup(done.tenant_id)} --model {escape_markup(done.vector_set.embedding_model)}"
        f" --chunk-size {done.vector_set.chunk_tokens}"
        f" --chunk-overlap {done.vector_set.chunk_overlap}`"
    )
    if not done.jobs:
        out.note("no documents matched")
    return Exit.OK


async def activate(api: Api, out: Output, args: argparse.Namespace) -> int:
    """Switch the tenant's search to one vector set."""
    body: dict[str, Any] = {
        "tenant_id": _tenant(args),
        "embedding_model": args.model,
        "force": args.force,
        **_chunking(args),
    }
    if args.set is not None:
        body["set_id"] = args.set
    done = await api.activate(body)
    if out.json_mode:
        out.json(done)
        return Exit.OK
    before = "none" if done.previous is None else _describe(done.previous)
    out.console.print(
        f"tenant {escape_markup(done.tenant_id)} now searches {_describe(done.active)}"
        f" (before: {before})"
    )
    return Exit.OK


async def prune(api: Api, out: Output, args: argparse.Namespace) -> int:
    """Drop the vector sets no tenant searches."""
    done = await api.prune(dry_run=args.dry_run, force=args.force)
    if out.json_mode:
        out.json(done)
        return Exit.OK
    verb = "would drop" if done.dry_run else "dropped"
    rows = [(verb, _describe(s), "") for s in done.dropped]
    rows += [("kept", _describe(k.vector_set), escape_markup(k.reason)) for k in done.kept]
    out.table("Vector sets", ("", "set", "why"), rows)
    if not done.dropped:
        out.note("nothing to drop")
    return Exit.OK


async def listing(api: Api, out: Output, args: argparse.Namespace) -> int:
    """Every vector set, with the tenant's chunks and documents in it."""
    found = await api.vector_sets(_tenant(args))
    if out.json_mode:
        out.json(found)
        return Exit.OK
    rows = [
        (
            str(s.vector_set.set_id),
            escape_markup(s.vector_set.embedding_model),
            str(s.vector_set.dimensions),
            s.vector_set.chunking(),
            "yes" if s.active else "",
            f"{s.chunks:,}",
            f"{s.documents:,}",
            str(s.active_tenants),
            str(s.unfinished_jobs),
        )
        for s in found.sets
    ]
    columns = ("set", "model", "dims", "chunking", "active", "chunks", "documents")
    out.table(
        f"Vector sets of {escape_markup(found.tenant_id)}",
        (*columns, "tenants", "jobs running"),
        rows,
    )
    if not found.sets:
        out.note("no vector sets yet")
    return Exit.OK


def add_commands(subs: Any, add: Any) -> None:
    """Add the commands to `sluice`'s sub-parsers (`add`: main's helper that makes one)."""
    rep = add(subs, "reprocess", "re-embed a tenant's documents into a new vector set", reprocess)
    rep.add_argument("--document", metavar="ID", help="only this document")
    rep.add_argument("--since", metavar="ISO", help="only documents uploaded at or after")
    rep.add_argument("--embedding-model", required=True, metavar="MODEL")
    rep.add_argument("--chunk-size", type=int, metavar="TOKENS")
    rep.add_argument("--chunk-overlap", type=int, metavar="TOKENS")
    act = add(subs, "activate", "switch a tenant's search to a vector set", activate)
    act.add_argument("--model", required=True, metavar="MODEL")
    act.add_argument("--chunk-size", type=int, metavar="TOKENS")
    act.add_argument("--chunk-overlap", type=int, metavar="TOKENS")
    act.add_argument("--set", type=int, metavar="ID", help="the set's id (sluice vector-sets)")
    act.add_argument("--force", action="store_true", help="even if it lacks documents")
    pr = add(subs, "prune", "drop the vector sets no tenant searches", prune)
    pr.add_argument("--dry-run", action="store_true", help="only say what would go")
    pr.add_argument("--force", action="store_true", help="also sets reprocess jobs still write")
    add(subs, "vector-sets", "list the vector sets, with a tenant's share of each", listing)
    for name in ("reprocess", "activate", "prune", "vector-sets"):
        parser = subs.choices[name]
        parser.set_defaults(admin=True)
        if name != "prune":  # acts on every tenant
            parser._option_string_actions["--tenant"].help = "the tenant acted on (required)"
