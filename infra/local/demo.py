"""`sluice demo`: upload the sample documents, follow them to `indexed`, search them."""

from __future__ import annotations

import mimetypes
import time
from typing import Any

import httpx

from infra.local import REPO_ROOT

SAMPLES = REPO_ROOT / "examples"
QUERIES = (
    "how do plants capture sunlight?",
    "how long should a sourdough starter rise?",
    "how far can a lighthouse beam be seen?",
)


def run_demo(ingest_url: str, status_url: str, token: str, timeout: float = 300) -> bool:
    """Upload every example, wait until each is terminal, print search hits; True if all indexed."""
    headers = {"Authorization": f"Bearer {token}"}
    files = sorted(
        p
        for p in SAMPLES.iterdir()
        if p.is_file() and p.suffix in {".txt", ".md", ".html", ".pdf", ".docx"}
    )
    jobs: dict[str, str] = {}
    with httpx.Client(timeout=30) as client:
        for path in files:
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            response = client.post(
                f"{ingest_url}/v1/documents",
                headers=headers,
                files={"file": (path.name, path.read_bytes(), media)},
            )
            response.raise_for_status()
            body = response.json()
            jobs[body["job_id"]] = path.name
            print(f"uploaded {path.name:<22} job {body['job_id']}")
        states = _follow(client, status_url, headers, jobs, timeout)
        for query in QUERIES:
            response = client.post(
                f"{status_url}/v1/search", headers=headers, json={"query": query, "top_k": 3}
            )
            response.raise_for_status()
            print(f"\nsearch: {query}")
            for hit in response.json()["results"]:
                text = " ".join(hit["text"].split())[:90]
                print(f"  {hit['score']:.3f}  {hit.get('filename') or hit['document_id']}: {text}…")
    return all(state == "indexed" for state in states.values())


def _follow(
    client: httpx.Client,
    status_url: str,
    headers: dict[str, str],
    jobs: dict[str, str],
    timeout: float,
) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    last = ""
    while time.monotonic() < deadline:
        for job_id in jobs:
            response = client.get(f"{status_url}/v1/jobs/{job_id}", headers=headers)
            body: dict[str, Any] = response.json() if response.status_code == 200 else {}
            states[job_id] = body.get("state", "unknown")
            if body.get("error"):
                states[job_id] += f" ({body['error']['code']})"
        line = "  ".join(f"{jobs[j]}={s}" for j, s in states.items())
        if line != last:
            print(f"[{time.strftime('%H:%M:%S')}] {line}")
            last = line
        if all(s.split()[0] in {"indexed", "failed"} for s in states.values()):
            break
        time.sleep(0.5)
    return states
