"""The local development stack: Kafka and Postgres runners, the services' stack, `sluice up`."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
