"""Open-loop HTTP load generator, run as its own process: fixed schedule, unique uploads.

`python -m bench.loadgen --url URL --tenant T --rate 20 --duration 20` prints one JSON line:
latency in ms measured from each request's *scheduled* start (so a slow server cannot
slow the schedule down and hide its own latency), plus how late the generator itself was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx

from bench.corpus import one_page
from bench.harness import token


async def fire(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], tag: str, due: float
) -> tuple[float, float, int]:
    """Wait until `due`, upload one unique page; return (latency ms, lateness ms, status)."""
    doc = one_page(tag)
    files = {"file": (doc.filename, doc.data, doc.media_type)}
    await asyncio.sleep(max(0.0, due - time.perf_counter()))
    sent = time.perf_counter()
    try:
        response = await client.post(url, headers=headers, files=files)
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    end = time.perf_counter()
    return (end - due) * 1000, (sent - due) * 1000, status


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    """Schedule rate*duration uploads at fixed intervals, all independent of each other."""
    headers = {"Authorization": f"Bearer {token(args.tenant)}"}
    url = f"{args.url}/v1/documents"
    total = int(args.rate * args.duration)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        # one request to open a connection; not counted
        await fire(client, url, headers, f"{args.tenant}-open", time.perf_counter())
        start = time.perf_counter() + 0.2
        results = await asyncio.gather(
            *(
                fire(client, url, headers, f"{args.tenant}-{i}", start + i / args.rate)
                for i in range(total)
            )
        )
    return {
        "latency_ms": [r[0] for r in results],
        "lateness_ms": [r[1] for r in results],
        "statuses": [r[2] for r in results],
        "requests": total + 1,
    }


def main() -> None:
    """Parse arguments, run the schedule, print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--duration", type=float, default=20)
    print(json.dumps(asyncio.run(main_async(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
