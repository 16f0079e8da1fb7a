"""The fault drill's stack: its own Kafka, Postgres and service processes, and its fault helpers."""

from __future__ import annotations

from pathlib import Path

import psycopg

from infra.local.stack import Stack, StackConfig

SECRET = "fault-drill-secret-0123456789-abcdefghij"


def drill_stack(run_dir: Path, provider: str = "local") -> Stack:
    """Kafka + Postgres + the four services on free ports under `run_dir`, one CPU each."""
    env = {
        "SLUICE_JWT_SECRET": SECRET,
        "SLUICE_EMBEDDING_PROVIDER": provider,
        "SLUICE_LOG_LEVEL": "WARNING",
        "SLUICE_EMBEDDING_THREADS": "1",
        "SLUICE_EMBEDDING_LANES": "1",
        "SLUICE_PARSE_WORKERS": "1",
    }
    return Stack(StackConfig.on_free_ports(run_dir, env=env))


def terminate_backends(database_url: str, application: str) -> int:
    """pg_terminate_backend every connection of one service, mid-transaction or not."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        ).fetchall()
    return len(rows)
