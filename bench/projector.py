"""`python -m bench.projector [--against REV]`: the status projector alone, optionally
interleaved with another commit's projector on the same events, Kafka and Postgres.

The same measurement as the last part of `bench.plumbing` (~20,000 pre-produced events drained
by `Projector` + `ConsumerLoop` into a fresh database), without the pipeline runs before it.
Each drain runs in its own process from its own source tree (`--against` extracts REV with
`git archive`), alternating between the trees so that the machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import bench_stack, other_tree
from bench.plumbing import produce_events, topic_total
from bench.report import load_average, log
from infra.local import REPO_ROOT
from infra.local.postgres import create_database

DRAIN = (
    "import asyncio, sys; from bench.plumbing import project_all;"
    " print(*asyncio.run(project_all(sys.argv[1], sys.argv[2], int(sys.argv[3]))))"
)


def drain(tree: Path, bootstrap: str, db_url: str, total: int, profile: Path | None) -> float:
    """Drain every event with the projector of `tree`; return its events/s (first batch to
    last commit)."""
    command = [sys.executable, "-c", DRAIN, bootstrap, db_url, str(total)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    with subprocess.Popen(
        command, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        spy = None
        if profile is not None:  # py-spy samples the drain until it exits
            py_spy = str(Path(sys.executable).parent / "py-spy")
            options = ["--nonblocking", "-o", str(profile), "-f", "speedscope"]
            spy = subprocess.Popen(
                [py_spy, "record", "--pid", str(process.pid), *options],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        out, err = process.communicate()
        if spy is not None:
            spy.wait()
    if process.returncode != 0:
        raise RuntimeError(f"the drain from {tree} failed:\n{err[-3000:]}")
    return float(out.split()[-2])


def main(argv: list[str] | None = None) -> int:
    """Pre-produce the events once, then drain them `--repeats` times per tree, alternating."""
    parser = argparse.ArgumentParser(prog="python -m bench.projector", description=__doc__)
    parser.add_argument("--against", help="also measure this commit's projector (git rev)")
    parser.add_argument("--events", type=int, default=20_000, help="synthetic events to drain")
    parser.add_argument("--repeats", type=int, default=3, help="drains per tree")
    parser.add_argument("--profile", type=Path, help="py-spy each drain into this folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sluice-projector-") as scratch:
        trees = {"this tree": REPO_ROOT}
        if args.against:
            trees = {args.against: other_tree(args.against, Path(scratch) / "against"), **trees}
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        rates: dict[str, list[float]] = {label: [] for label in trees}
        loads = [load_average()]
        with bench_stack("projector", services=False) as stack:
            asyncio.run(produce_events(stack.bootstrap, args.events))
            total = asyncio.run(topic_total(stack.bootstrap))
            for rep in range(args.repeats):
                for number, (label, tree) in enumerate(trees.items()):
                    db_url = create_database(stack.database_url, f"projector_{number}_{rep}")
                    profile = None
                    if args.profile:
                        profile = args.profile / f"projector-{number}-{rep}.json"
                    rate = drain(tree, stack.bootstrap, db_url, total, profile)
                    log(f"{label}: run {rep + 1}/{args.repeats}: {rate:,.0f} events/s")
                    rates[label].append(rate)
        loads.append(load_average())
    print(f"{total} events; load average (1/5/15 min) {' → '.join(loads)}")
    for label, values in rates.items():
        spread = f"{min(values):,.0f}-{max(values):,.0f}"
        print(f"{label}: median {statistics.median(values):,.0f} events/s ({spread})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
