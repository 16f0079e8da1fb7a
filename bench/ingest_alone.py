"""`python -m bench.ingest_alone [--against REV]`: the ingest API alone, optionally interleaved
with another commit's ingest.

Kafka, Postgres and one ingest process (no pipeline behind it), under the open-loop load
generator (`bench/loadgen.py`, latency from each request's scheduled start) at 5 and at 50
uploads/s: what one upload costs the door itself, without the model's CPU beside it (the
`latency` benchmark measures it with the pipeline busy). Each measurement is a process started
in its own source tree (`--against` extracts REV with `git archive` and runs this same driver
there), with a fresh stack of that tree's code, alternating between the trees so that the
machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench import latency
from bench.harness import bench_stack
from bench.report import load_average, log, percentile
from infra.local import REPO_ROOT

RATES = (5.0, 50.0)  # uploads/s


def _load(url: str, rate: float, duration: float) -> dict[str, float]:
    """One run of the load generator (the `latency` benchmark's): p50/p95 of the uploads
    answered 202, and how many were not."""
    result = latency._load(url, f"alone-{uuid.uuid4().hex[:6]}", rate, duration)
    ok = latency._accepted(result)
    refused = len(result["statuses"]) - len(ok)
    return {"p50": percentile(ok, 50), "p95": percentile(ok, 95), "refused": refused}


def measure(duration: float) -> dict[str, dict[str, float]]:
    """In this tree: a fresh stack with one ingest, warmed, then each rate for `duration` s."""
    with bench_stack("ingest-alone", services=False) as stack:
        stack.start("ingest")
        _load(stack.ingest_url, RATES[0], 4)  # connections, pools and caches warm
        return {str(rate): _load(stack.ingest_url, rate, duration) for rate in RATES}


def _run_in(tree: Path, duration: float) -> dict[str, dict[str, float]]:
    code = "import json; from bench.ingest_alone import measure;"
    code += f" print(json.dumps(measure({duration})))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the measurement in {tree} failed:\n{done.stderr[-3000:]}")
    result: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Measure `--repeats` times per tree, alternating; print the medians per rate."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_alone", description=__doc__)
    parser.add_argument("--against", help="also measure this commit's ingest (git rev)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per tree")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    args = parser.parse_args(argv)
    from bench.harness import other_tree  # here: `measure` also runs in older trees without it

    with tempfile.TemporaryDirectory(prefix="sluice-ingest-alone-") as scratch:
        trees = {"this tree": REPO_ROOT}
        if args.against:
            old = other_tree(args.against, Path(scratch) / "against")
            shutil.copy(Path(__file__), old / "bench" / "ingest_alone.py")  # the same driver
            trees = {args.against: old, **trees}
        runs: dict[str, list[dict[str, dict[str, float]]]] = {label: [] for label in trees}
        loads = [load_average()]
        for rep in range(args.repeats):
            for label, tree in trees.items():
                runs[label].append(_run_in(tree, args.duration))
                log(f"{label}: run {rep + 1}/{args.repeats}: {runs[label][-1]}")
        loads.append(load_average())
    print(f"load average (1/5/15 min) {' → '.join(loads)}")
    for label, measured in runs.items():
        for rate in RATES:
            cells: list[str] = []
            for key in ("p50", "p95", "refused"):
                values: list[Any] = [m[str(rate)][key] for m in measured]
                spread = f"{min(values):,.1f}-{max(values):,.1f}"
                cells.append(f"{key} {statistics.median(values):,.1f} ({spread})")
            print(f"{label}, {rate:g}/s: {'; '.join(cells)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
