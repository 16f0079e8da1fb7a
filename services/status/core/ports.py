"""What a re-drive reads: a job's state and the events that fed its stages."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec


class RedriveSource(msgspec.Struct, frozen=True):
    """A job as a re-drive sees it; `inputs` maps an input event type to its stored payload."""

    state: str
    attempt: int
    error_stage: str | None
    inputs: dict[str, Any]


class RedriveSources(Protocol):
    """Reads a job for a re-drive (the status queries, or a fake in tests)."""

    async def redrive_source(self, tenant_id: str | None, job_id: str) -> RedriveSource | None:
        """The job with its `DocumentUploaded` / `DocumentParsed` payloads; None if unknown.

        `tenant_id` None reads any tenant's job (admins).
        """
        ...
