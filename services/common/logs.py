"""Structured JSON logs with job_id / document_id / event_id carried as fields."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
_CONTEXT_FIELDS = ("service", "job_id", "document_id", "event_id", "tenant_id", "topic", "stage")


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _CONTEXT_FIELDS[1:]:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            data.update(extra)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(data).decode()


def setup_logging(service: str, level: str = "INFO") -> None:
    """Route all logging to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "uvicorn.access", "httpx", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def ctx(**fields: Any) -> dict[str, Any]:
    """`extra=` for a log call: ids become top-level JSON fields."""
    return {k: v for k, v in fields.items() if v is not None}
