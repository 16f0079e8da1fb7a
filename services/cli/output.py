"""How `sluice` prints: rich tables and colours for people, plain JSON with `--json`."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from services.cli.models import Job

# Columns never wrapped: ids, states, times, topic and replica names.
WHOLE = frozenset({"job", "ref", "state", "#", "score", "updated", "at", "topic", "replica"})
STATE_STYLES = {"indexed": "green", "failed": "red", "rejected": "red"}


class Output:
    """Where results (stdout) and notes and errors (stderr) go, in one of the two modes."""

    def __init__(self, *, json: bool) -> None:
        self.json_mode = json
        plain = json or "NO_COLOR" in os.environ
        self.console = Console(no_color=plain, highlight=False, soft_wrap=json)
        self.errors = Console(stderr=True, no_color=plain, highlight=False)

    def json(self, value: Any) -> None:
        """Print one JSON document (Structs, dicts, lists) to stdout."""
        body = msgspec.json.format(msgspec.json.encode(value), indent=2)
        sys.stdout.write(body.decode() + "\n")
        sys.stdout.flush()

    def answer(self, value: Any, text: str) -> None:
        """A command's one result: `value` as JSON in --json mode, else `text` for a person."""
        if self.json_mode:
            self.json(value)
        else:
            self.console.print(text)

    def note(self, text: str) -> None:
        """Something a person should know, on stderr (never mixed into --json output)."""
        self.errors.print(f"[dim]{escape(text)}[/dim]")

    def error(self, text: str) -> None:
        """Why the command failed, on stderr."""
        self.errors.print(f"[bold red]sluice:[/bold red] {escape(text)}")

    @contextlib.contextmanager
    def spinner(self, text: str) -> Iterator[None]:
        """A spinner on stderr saying what we wait for (none with --json)."""
        if self.json_mode:
            yield
            return
        with self.errors.status(escape(text), spinner="dots"):
            yield

    def table(
        self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[str]]
    ) -> None:
        """A table of text cells (cells may hold rich markup)."""
        table = Table(title=title, title_justify="left", header_style="bold")
        for column in columns:
            # ids and states stay whole (a script copies them); long text folds
            table.add_column(column, overflow="fold", no_wrap=column in WHOLE)
        for row in rows:
            table.add_row(*row)
        self.console.print(table)


def escape_markup(text: str) -> str:
    """`text` shown as is (square brackets are rich markup otherwise)."""
    return escape(text)


def styled_state(state: str) -> str:
    """A state with its colour."""
    style = STATE_STYLES.get(state)
    return f"[{style}]{state}[/{style}]" if style else state


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from `start` to `end`, None unless both are known."""
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def stage_times(job: Job) -> dict[str, float | None]:
    """How long the job waited and worked in each stage, and in all, in seconds."""
    at = job.timestamps.get
    end = at("indexed_at") or at("failed_at")
    return {
        "wait": seconds(at("queued_at"), at("parsing_at")),
        "parse": seconds(at("parsing_at"), at("parsed_at")),
        "embed": seconds(at("embedding_at"), at("indexed_at")),
        "total": seconds(at("queued_at"), end),
    }


def duration(value: float | None) -> str:
    """`1.25s`, or `-` when unknown."""
    return "-" if value is None else f"{value:.2f}s"


def reason(job: Job) -> str:
    """`code: message` of a failed job (or of its last retried error), else ''."""
    error = job.error or (job.last_error if job.state not in ("indexed",) else None)
    if error is None:
        return ""
    return ": ".join(part for part in (error.code, error.message) if part)
