"""Re-driving a failed job over in-memory ports: which event goes out again, and refusals."""

from __future__ import annotations

import msgspec
import pytest

from schemas import topics
from schemas.events import BlobRef, DocumentParsed, DocumentUploaded, Origin, caused_by
from services.status.core.ports import RedriveSource
from services.status.redrive import Redriver, RedriveRefusedError
from tests.fixtures.fakes import MemoryJobs, RecordingPublisher, upload

pytestmark = pytest.mark.unit

ORIGIN = Origin(service="status", instance="unit")
UPLOADED = upload(1)
PARSED = DocumentParsed(
    text=BlobRef(sha256="ab" * 32, size=3, media_type="text/plain"),
    **caused_by(UPLOADED, "parsed", Origin(service="parser", instance="p-1")),
)


def redriver(**jobs: RedriveSource) -> tuple[Redriver, RecordingPublisher]:
    publisher = RecordingPublisher()
    store = MemoryJobs({("t", job_id): source for job_id, source in jobs.items()})
    return Redriver(store, publisher, ORIGIN), publisher


def failed(stage: str, *, attempt: int = 1, state: str = "failed") -> RedriveSource:
    inputs = {
        "DocumentUploaded": msgspec.to_builtins(UPLOADED),
        "DocumentParsed": msgspec.to_builtins(PARSED),
    }
    return RedriveSource(state=state, attempt=attempt, error_stage=stage, inputs=inputs)


async def test_an_embed_failure_restarts_from_the_parsed_document() -> None:
    retry, publisher = redriver(j1=failed("embed", attempt=2))

    answer = await retry.retry("t", "j1")

    (again,) = publisher.events(topics.DOCUMENTS_PARSED)
    assert (answer.state, answer.attempt, answer.restarted_stage) == ("parsed", 3, "embed")
    assert isinstance(again, DocumentParsed)
    assert (again.attempt, again.causation_id, again.origin) == (3, PARSED.event_id, ORIGIN)
    assert again.event_id != PARSED.event_id
    assert publisher.to(topics.DOCUMENTS_UPLOADED) == []


async def test_a_parse_failure_restarts_from_the_upload() -> None:
    retry, publisher = redriver(j1=failed("parse"))

    answer = await retry.retry(None, "j1")  # an admin: any tenant's job

    (again,) = publisher.events(topics.DOCUMENTS_UPLOADED)
    assert isinstance(again, DocumentUploaded) and again.job_id == UPLOADED.job_id
    assert (answer.state, answer.restarted_stage) == ("queued", "parse")


@pytest.mark.parametrize(
    ("tenant", "job", "status"),
    [("t", "nope", 404), ("other-tenant", "j1", 404), ("t", "running", 409)],
    ids=["unknown job", "another tenant's job", "not failed"],
)
async def test_refusals(tenant: str, job: str, status: int) -> None:
    retry, publisher = redriver(j1=failed("parse"), running=failed("parse", state="parsing"))

    with pytest.raises(RedriveRefusedError) as refused:
        await retry.retry(tenant, job)

    assert refused.value.status == status
    assert publisher.sent == []
