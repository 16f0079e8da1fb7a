"""`python -m bench.run [--quick] [--only NAME]`: run benchmarks, append to docs/benchmarks.md."""

from __future__ import annotations

import argparse
import importlib
import shlex
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench.report import Context, Outcome, fmt, load_average, log, machine
from infra.local import REPO_ROOT

BENCHMARKS = (
    "efficiency",
    "plumbing",
    "latency",
    "kafka_ceiling",
    "scaling",
    "replay",
    "vector_search",
    "embedserver",
    "onnx_backend",
)
REPORT = REPO_ROOT / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Appended by `make bench` (`python -m bench.run`). Each section is one invocation: the command,
the machine, and a table of medians over several runs with their spread (min-max). Figures
meant to be compared (pipeline vs. raw model, pipeline vs. Kafka client) are measured in the
same run on the same machine. Other work on the machine makes the numbers noisy: read the load
average beside them.
"""


def commit() -> str:
    """The checked-out commit, marked when the working tree has changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], check=False, capture_output=True, text=True, cwd=REPO_ROOT
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (
        " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    )


def render(
    ctx: Context, command: str, outcomes: list[Outcome], seconds: float, loads: list[str]
) -> str:
    """The Markdown section for one invocation."""
    facts = machine()
    lines = [
        f"\n## {ctx.started:%Y-%m-%d %H:%M} — {'quick' if ctx.quick else 'full'}\n",
        f"- commit: `{commit()}`",
        f"- command: `{command}`",
        f"- machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['memory']} RAM,"
        f" Python {facts['python']}",
        f"- load average (1/5/15 min) at start and after each benchmark: {' → '.join(loads)}",
        f"- wall time: {seconds / 60:.1f} min\n",
        "| benchmark | metric | median | spread (min-max) | target | |",
        "|---|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        for row in outcome.rows:
            verdict = {True: "meets", False: "**short**", None: ""}[row.ok]
            lines.append(
                f"| {outcome.name} | {row.metric} | {fmt(row.median)} {row.unit} |"
                f" {row.spread()} | {row.target} | {verdict} |"
            )
    lines.append("")
    lines.extend(f"- {o.name}: {note}" for o in outcomes for note in o.notes)
    return "\n".join(lines) + "\n"


def _terminated(signum: int, _frame: object) -> None:
    """SIGTERM (a `kill`, a CI timeout) unwinds like Ctrl-C: each stack started is stopped."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks in order; append the section even if one of them failed."""
    signal.signal(signal.SIGTERM, _terminated)
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller corpora, fewer runs")
    parser.add_argument(
        "--only", action="append", choices=BENCHMARKS, help="run only this one (repeatable)"
    )
    parser.add_argument("--no-report", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if not args.only or b in args.only]
    command = "python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    ctx = Context(quick=args.quick)
    outcomes: list[Outcome] = []
    loads = [load_average()]
    started = time.monotonic()
    failed = False
    for name in chosen:
        print(f"\n== {name} ==", flush=True)
        log(f"{name}: load average {loads[-1]}")
        try:
            outcome = importlib.import_module(f"bench.{name}").run(ctx)
        except Exception as error:  # noqa: BLE001 - report it and go on with the others
            traceback.print_exc()
            outcome = Outcome(name, notes=[f"FAILED: {type(error).__name__}: {error}"])
            failed = True
        for note in outcome.notes:
            print(f"  note: {note}", flush=True)
        outcomes.append(outcome)
        loads.append(load_average())
    section = render(ctx, command.strip(), outcomes, time.monotonic() - started, loads)
    if not args.no_report:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        with Path(REPORT).open("a") as report:
            if report.tell() == 0:
                report.write(HEADER)
            report.write(section)
        log(f"appended results to {REPORT.relative_to(REPO_ROOT)}")
    print(section)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
