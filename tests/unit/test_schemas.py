"""Unit tests for the event contracts: exported JSON Schemas, codec, old records, ids."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from schemas import codec, export
from schemas.events import (
    AnyEvent,
    BlobRef,
    DocumentDeleted,
    DocumentFailed,
    DocumentIndexed,
    DocumentParsed,
    DocumentUploaded,
    Origin,
    RetryScheduled,
    Stage,
    StageStarted,
    Usage,
    VectorSetRef,
    derived_id,
    document_id_for,
    uuid7,
    version_of,
)
from schemas.layout import MEDIA_TYPE as LAYOUT_MEDIA_TYPE
from schemas.layout import Heading, Layout, decode_layout, encode_layout
from tests.fixtures.cases import Case, case_ids

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
AT = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
JOB_1 = "0190a3c4-5b6d-7000-8000-000000000001"
JOB_2 = "0190a3c4-5b6d-7000-8000-000000000002"
DOC_1 = "7d6c2a4e-3b1f-5c8d-9e0a-112233445566"
DOC_2 = "7d6c2a4e-3b1f-5c8d-9e0a-112233445567"
UPLOAD_ID = "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b"
PARSED_ID = "6b2f9a1d-3e4c-5d5b-9f0a-1b2c3d4e5f60"
SOURCE = BlobRef(
    sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    size=4,
    media_type="text/plain",
)
TEXT = BlobRef(
    sha256="b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
    size=11,
    media_type="text/plain; charset=utf-8",
)
LAYOUT = BlobRef(
    sha256="3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7",
    size=76,
    media_type=LAYOUT_MEDIA_TYPE,
)

# --- exported JSON Schemas -------------------------------------------------------------------


@pytest.mark.unit
def test_committed_json_schemas_match_a_fresh_export() -> None:
    stale = export.stale()
    assert not stale, f"run `make schemas` (python -m schemas.export); out of date: {stale}"


@pytest.mark.unit
def test_no_leftover_schema_files() -> None:
    committed = {p.name for p in export.OUT_DIR.glob("*.json")}
    assert committed == set(export.render()) | set(export.history())
    assert "DocumentParsed.v1.json" in export.history()  # the old version's schema stays


@pytest.mark.unit
def test_document_parsed_v2_only_adds_an_optional_field_to_v1() -> None:
    # msgspec's evolution rules: a new field has a default, no field changes type, nothing
    # becomes required; so a v2 consumer reads v1 records and a v1 reader skips `layout`.
    # Compared as the wire sees them: references inlined, names and descriptions of the
    # definitions left out (the envelope's `Producer` Struct is named `Origin` since v2).
    def struct(name: str) -> dict[str, Any]:
        doc = json.loads((export.OUT_DIR / name).read_text(encoding="utf-8"))
        schema: dict[str, Any] = _wire_shape(doc["$defs"]["DocumentParsed"], doc["$defs"])
        return schema

    v1, v2 = struct("DocumentParsed.v1.json"), struct("DocumentParsed.v2.json")
    assert v2["required"] == v1["required"]
    assert set(v2["properties"]) - set(v1["properties"]) == {"layout", "parser", "vector_set"}
    assert v2["properties"]["layout"]["default"] is None
    assert v2["properties"]["parser"]["default"] is None  # additive within v2
    assert v2["properties"]["vector_set"]["default"] is None
    for name, field in v1["properties"].items():
        if name != "schema_version":
            assert v2["properties"][name] == field, name
    assert (v1["properties"]["schema_version"]["default"], version_of(DocumentParsed)) == (1, 2)


def _wire_shape(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with every `$ref` replaced by its definition, without titles and descriptions."""
    if isinstance(schema, list):
        return [_wire_shape(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _wire_shape(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    return {k: _wire_shape(v, defs) for k, v in schema.items() if k not in {"title", "description"}}


@pytest.mark.unit
def test_the_envelopes_producer_keeps_its_wire_shape_across_the_rename() -> None:
    old = json.loads((export.OUT_DIR / "DocumentParsed.v1.json").read_text(encoding="utf-8"))
    new = json.loads(export.render()["DocumentUploaded.v1.json"])
    assert _wire_shape(new["$defs"]["Origin"], new["$defs"]) == _wire_shape(
        old["$defs"]["Producer"], old["$defs"]
    )
    event = codec.decode((FIXTURES / "v1/DocumentUploaded.json").read_bytes())
    assert event.origin == Origin(service="ingest", instance="ingest-local")
    assert json.loads(codec.encode(event))["producer"] == {
        "service": "ingest",
        "instance": "ingest-local",
        "version": "0.1.0",
    }


@pytest.mark.unit
def test_export_is_deterministic_and_covers_every_event() -> None:
    first, second = export.render(), export.render()
    assert first == second
    assert all(text.endswith("}\n") for text in first.values())
    union = json.loads(first[export.UNION_FILE])
    tags = {m["$ref"].rsplit("/", 1)[-1] for m in union["anyOf"]}
    assert tags == {cls.__name__ for cls in export.event_types()}


@pytest.mark.unit
def test_export_main_check_and_write(tmp_path: Path) -> None:
    assert export.main(["--check", "--out", str(tmp_path)]) == 1
    assert export.main(["--out", str(tmp_path)]) == 0
    assert export.main(["--check", "--out", str(tmp_path)]) == 0


# --- round trips ----------------------------------------------------------------------------

ENVELOPE: dict[str, Any] = {
    "occurred_at": AT,
    "tenant_id": "acme",
    "job_id": JOB_1,
    "document_id": DOC_1,
    "attempt": 2,
    "trace_id": JOB_1,
    "causation_id": UPLOAD_ID,
    "origin": Origin(service="test", instance="t-1"),
}

ROUND_TRIPS: list[Case[AnyEvent, None]] = [
    Case(
        "DocumentUploaded",
        DocumentUploaded(
            event_id=uuid7(), blob=SOURCE, filename="a.txt", metadata={"k": [1, 2]}, **ENVELOPE
        ),
        None,
    ),
    Case("StageStarted", StageStarted(event_id=uuid7(), stage=Stage.EMBED, **ENVELOPE), None),
    Case(
        "DocumentParsed",
        DocumentParsed(
            event_id=uuid7(), text=TEXT, title="T", page_count=3, source=SOURCE, **ENVELOPE
        ),
        None,
    ),
    Case(
        "DocumentParsed with a layout",
        DocumentParsed(event_id=uuid7(), text=TEXT, layout=LAYOUT, page_count=2, **ENVELOPE),
        None,
    ),
    Case(
        "DocumentIndexed",
        DocumentIndexed(
            event_id=uuid7(), chunk_count=4, embedding_model="m", dimensions=384, **ENVELOPE
        ),
        None,
    ),
    Case(
        "RetryScheduled",
        RetryScheduled(
            event_id=uuid7(),
            stage=Stage.EMBED,
            code="provider_unavailable",
            message="429 from the embeddings API",
            retry=3,
            not_before=AT,
            **ENVELOPE,
        ),
        None,
    ),
    Case(
        "DocumentFailed",
        DocumentFailed(
            event_id=uuid7(),
            stage=Stage.PARSE,
            code="timeout",
            message="too slow",
            retryable=True,
            **ENVELOPE,
        ),
        None,
    ),
    Case(
        "DocumentDeleted",
        DocumentDeleted(event_id=uuid7(), deleted_jobs=[JOB_1, JOB_2], **ENVELOPE),
        None,
    ),
]


@pytest.mark.unit
def test_round_trips_cover_every_event_type() -> None:
    assert {type(c.given) for c in ROUND_TRIPS} == set(export.event_types())


@pytest.mark.unit
@pytest.mark.parametrize("case", ROUND_TRIPS, ids=case_ids(ROUND_TRIPS))
def test_encode_decode_round_trip(case: Case[AnyEvent, None]) -> None:
    data = codec.encode(case.given)
    assert json.loads(data)["type"] == type(case.given).__name__
    assert codec.decode(data) == case.given


# --- records written by older and current producers ----------------------------------------


def _at(second: int, microsecond: int = 0) -> datetime:
    """A moment of the fixtures' first job (2024-07-01 12:00)."""
    return datetime(2024, 7, 1, 12, 0, second, microsecond, tzinfo=UTC)


ACME_JOB: dict[str, Any] = {
    "tenant_id": "acme",
    "job_id": JOB_1,
    "document_id": DOC_1,
    "trace_id": JOB_1,
}
GLOBEX_JOB: dict[str, Any] = {"tenant_id": "globex", "job_id": JOB_2, "document_id": DOC_2}
PARSER_ORIGIN = Origin(service="parser", instance="parser-local")
AFTER_UPLOAD: dict[str, Any] = {**ACME_JOB, "causation_id": UPLOAD_ID, "origin": PARSER_ORIGIN}
JOB_3 = "0190a3c4-5b6d-7000-8000-000000000003"
REPROCESS_JOB = "0190a3c4-5b6d-7000-8000-000000000005"
SMALL_CHUNKS = VectorSetRef(embedding_model="all-MiniLM-L6-v2", chunk_tokens=128, chunk_overlap=16)
REPROCESS: dict[str, Any] = {"tenant_id": "acme", "job_id": REPROCESS_JOB, "document_id": DOC_1}
EMBEDDER_ORIGIN = Origin(service="embedder", instance="embedder-local")
PARSED_V2: dict[str, Any] = {  # the third job's parsed text, as parser v2 writes it
    "tenant_id": "acme",
    "job_id": JOB_3,
    "document_id": "7d6c2a4e-3b1f-5c8d-9e0a-112233445568",
    "trace_id": JOB_3,
    "causation_id": "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6d",
    "origin": PARSER_ORIGIN,
    "text": TEXT,
    "char_count": 11,
    "source": BlobRef(sha256=SOURCE.sha256, size=4, media_type="application/pdf"),
    "metadata": {"source": "crm"},
    "layout": LAYOUT,
}

RECORDS: list[Case[str, AnyEvent]] = [
    Case(
        "uploaded, every field",
        "v1/DocumentUploaded.json",
        DocumentUploaded(
            event_id=UPLOAD_ID,
            occurred_at=AT,
            origin=Origin(service="ingest", instance="ingest-local"),
            blob=SOURCE,
            filename="test.txt",
            metadata={"source": "crm", "tags": ["a", "b"]},
            **ACME_JOB,
        ),
    ),
    Case(
        "uploaded, without the optional fields",
        "v1/DocumentUploaded.minimal.json",
        DocumentUploaded(
            event_id="0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6c",
            occurred_at=_at(0, 250000),
            blob=BlobRef(
                sha256="2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                size=3,
                media_type="text/markdown",
            ),
            filename="notes.md",
            **GLOBEX_JOB,
        ),
    ),
    Case(
        "stage started",
        "v1/StageStarted.json",
        StageStarted(
            event_id="5a1e8f0c-2d3b-5c4a-8e9f-0a1b2c3d4e5f",
            occurred_at=_at(1),
            stage=Stage.PARSE,
            **AFTER_UPLOAD,
        ),
    ),
    Case(
        "parsed v1, every field",
        "v1/DocumentParsed.json",
        DocumentParsed(
            event_id=PARSED_ID,
            schema_version=1,
            occurred_at=_at(2),
            text=TEXT,
            title="Hello",
            page_count=1,
            char_count=11,
            source=SOURCE,
            metadata={"source": "crm"},
            **AFTER_UPLOAD,
        ),
    ),
    Case(
        "parsed v1, without the optional fields",
        "v1/DocumentParsed.minimal.json",
        DocumentParsed(
            event_id="6b2f9a1d-3e4c-5d5b-9f0a-1b2c3d4e5f61",
            schema_version=1,
            occurred_at=_at(2),
            text=TEXT,
            **GLOBEX_JOB,
        ),
    ),
    Case(
        "parsed v2, every field",
        "v2/DocumentParsed.json",
        DocumentParsed(
            event_id="6b2f9a1d-3e4c-5d5b-9f0a-1b2c3d4e5f62",
            occurred_at=_at(2),
            title="Photosynthesis",
            page_count=2,
            **PARSED_V2,
        ),
    ),
    Case(
        "parsed v2 by LlamaParse, with the additive `parser`",
        "v2/DocumentParsed.parser.json",
        DocumentParsed(
            event_id="6b2f9a1d-3e4c-5d5b-9f0a-1b2c3d4e5f64",
            occurred_at=_at(2),
            title="Annual Report",
            page_count=12,
            parser="llamaparse",
            **PARSED_V2,
        ),
    ),
    Case(
        "parsed v2, without the optional fields",
        "v2/DocumentParsed.minimal.json",
        DocumentParsed(
            event_id="6b2f9a1d-3e4c-5d5b-9f0a-1b2c3d4e5f63",
            occurred_at=_at(2),
            tenant_id="globex",
            job_id="0190a3c4-5b6d-7000-8000-000000000004",
            document_id="7d6c2a4e-3b1f-5c8d-9e0a-112233445569",
            text=TEXT,
        ),
    ),
    Case(
        "indexed, second attempt",
        "v1/DocumentIndexed.json",
        DocumentIndexed(
            event_id="7c3a0b2e-4f5d-5e6c-8a1b-2c3d4e5f6071",
            occurred_at=_at(5),
            attempt=2,
            causation_id=PARSED_ID,
            origin=EMBEDDER_ORIGIN,
            chunk_count=3,
            embedding_model="all-MiniLM-L6-v2",
            dimensions=384,
            **ACME_JOB,
        ),
    ),
    Case(
        "indexed with its usage (an additive field of v1)",
        "v1/DocumentIndexed.usage.json",
        DocumentIndexed(
            event_id="7c3a0b2e-4f5d-5e6c-8a1b-2c3d4e5f6072",
            occurred_at=_at(5),
            causation_id=PARSED_ID,
            origin=EMBEDDER_ORIGIN,
            chunk_count=3,
            embedding_model="text-embedding-3-small",
            dimensions=1536,
            usage=Usage(provider="openai", model="text-embedding-3-small", tokens=612, requests=1),
            **ACME_JOB,
        ),
    ),
    Case(
        "retry scheduled",
        "v1/RetryScheduled.json",
        RetryScheduled(
            event_id="9e5c2d4a-6b7f-5a8e-8c3d-4e5f60718293",
            occurred_at=_at(4),
            stage=Stage.PARSE,
            code="parse_timeout",
            message="parsing took longer than 30s",
            retry=1,
            not_before=_at(5, 500000),
            **AFTER_UPLOAD,
        ),
    ),
    Case(
        "deleted (the tombstone of sluice.documents.deleted)",
        "v1/DocumentDeleted.json",
        DocumentDeleted(
            event_id="0190a3c4-5b6d-7000-8000-0000000000d1",
            occurred_at=_at(9),
            tenant_id="acme",
            job_id="0190a3c4-5b6d-7000-8000-0000000000d1",
            document_id=DOC_1,
            origin=Origin(service="status", instance="status-local"),
            deleted_jobs=[JOB_1],
        ),
    ),
    Case(
        "failed, without the optional fields",
        "v1/DocumentFailed.json",
        DocumentFailed(
            event_id="8d4b1c3f-5a6e-5f7d-9b2c-3d4e5f607182",
            occurred_at=_at(3),
            stage=Stage.PARSE,
            code="corrupt_pdf",
            message="the PDF could not be read",
            **GLOBEX_JOB,
        ),
    ),
    Case(
        "uploaded by a reprocess, naming its vector set",
        "v1/DocumentUploaded.reprocess.json",
        DocumentUploaded(
            event_id="0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a70",
            occurred_at=_at(10),
            **REPROCESS,
            origin=Origin(service="status", instance="status-local"),
            blob=SOURCE,
            filename="test.txt",
            vector_set=SMALL_CHUNKS,
        ),
    ),
    Case(
        "parsed for a reprocess, the vector set carried on",
        "v2/DocumentParsed.reprocess.json",
        DocumentParsed(
            event_id="6b2f9a1d-3e4c-5d5b-9f0a-1b2c3d4e5f64",
            occurred_at=_at(11),
            **REPROCESS,
            causation_id="0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a70",
            origin=PARSER_ORIGIN,
            text=TEXT,
            char_count=11,
            vector_set=SMALL_CHUNKS,
        ),
    ),
    Case(
        "indexed, saying which model and chunking made the chunks",
        "v1/DocumentIndexed.vector_set.json",
        DocumentIndexed(
            event_id="7c3a0b2e-4f5d-5e6c-8a1b-2c3d4e5f6072",
            occurred_at=_at(12),
            **REPROCESS,
            causation_id="6b2f9a1d-3e4c-5d5b-9f0a-1b2c3d4e5f64",
            origin=EMBEDDER_ORIGIN,
            chunk_count=5,
            embedding_model="all-MiniLM-L6-v2",
            dimensions=384,
            vector_set=SMALL_CHUNKS,
        ),
    ),
]


def _version(fixture: str) -> int:
    return int(fixture.split("/", 1)[0].removeprefix("v"))


@pytest.mark.unit
def test_every_fixture_is_checked_and_every_event_type_has_one() -> None:
    on_disk = {str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("v*/*.json")}
    assert on_disk == {c.given for c in RECORDS}
    assert {type(c.expected) for c in RECORDS} == set(export.event_types())
    # every version a consumer accepts has a record written by that version's producer
    fixed = {(type(c.expected).__name__, _version(c.given)) for c in RECORDS}
    wanted = {(name, v) for name, versions in codec.SUPPORTED_VERSIONS.items() for v in versions}
    assert fixed == wanted


@pytest.mark.unit
@pytest.mark.parametrize("case", RECORDS, ids=case_ids(RECORDS))
def test_records_of_every_supported_version_decode(case: Case[str, AnyEvent]) -> None:
    event = codec.decode((FIXTURES / case.given).read_bytes())
    assert event == case.expected
    assert event.schema_version == _version(case.given)


@pytest.mark.unit
@pytest.mark.parametrize(
    "case",
    [c for c in RECORDS if _version(c.given) == version_of(type(c.expected))],
    ids=case_ids([c for c in RECORDS if _version(c.given) == version_of(type(c.expected))]),
)
def test_this_release_writes_the_current_version_fixtures(case: Case[str, AnyEvent]) -> None:
    written = json.loads(codec.encode(case.expected))
    fixture = json.loads((FIXTURES / case.given).read_bytes())
    assert set(fixture) <= set(written)
    assert _same_instants({k: written[k] for k in fixture}) == _same_instants(fixture)


def _same_instants(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with its timestamps parsed, so "…Z" and "…+00:00" compare equal."""
    return {
        k: datetime.fromisoformat(v) if k in {"occurred_at", "not_before"} else v
        for k, v in record.items()
    }


@pytest.mark.unit
def test_a_document_parsed_written_before_the_parser_field_names_no_parser() -> None:
    for fixture in ("v1/DocumentParsed.json", "v2/DocumentParsed.json"):
        event = codec.decode((FIXTURES / fixture).read_bytes())
        assert isinstance(event, DocumentParsed)
        assert event.parser is None, fixture


@pytest.mark.unit
def test_a_v1_document_parsed_has_no_layout() -> None:
    event = codec.decode((FIXTURES / "v1/DocumentParsed.json").read_bytes())
    assert isinstance(event, DocumentParsed)
    assert (event.schema_version, event.layout) == (1, None)
    again = codec.decode(codec.encode(event))  # a re-drive re-sends it as it was
    assert again == event


@pytest.mark.unit
def test_a_new_document_parsed_is_written_as_v2() -> None:
    event = DocumentParsed(event_id=uuid7(), text=TEXT, **ENVELOPE)
    assert json.loads(codec.encode(event))["schema_version"] == 2
    started = StageStarted(event_id=uuid7(), stage=Stage.PARSE, **ENVELOPE)
    assert json.loads(codec.encode(started))["schema_version"] == 1


@pytest.mark.unit
def test_defaults_of_a_minimal_v1_record() -> None:
    event = codec.decode((FIXTURES / "v1/DocumentUploaded.minimal.json").read_bytes())
    assert isinstance(event, DocumentUploaded)
    assert (event.attempt, event.trace_id, event.causation_id, event.origin) == (
        1,
        None,
        None,
        None,
    )
    assert event.metadata == {}
    assert event.vector_set is None  # an upload before vector sets: the tenant's active set


@pytest.mark.unit
def test_vector_set_is_an_additive_field_that_keeps_each_version() -> None:
    # Adding `vector_set` kept the versions (msgspec's evolution rules: optional, default
    # None), so a consumer of the previous release, which ignores unknown fields, still reads
    # what this release writes, and this release reads the records the previous one wrote.
    assert (version_of(DocumentUploaded), version_of(DocumentParsed)) == (1, 2)
    assert version_of(DocumentIndexed) == 1
    for name in ("DocumentUploaded.v1.json", "DocumentParsed.v2.json", "DocumentIndexed.v1.json"):
        doc = json.loads(export.render()[name])
        struct = doc["$defs"][name.split(".")[0]]
        assert "vector_set" not in struct["required"]
        assert struct["properties"]["vector_set"]["default"] is None
    written = codec.encode(
        DocumentUploaded(
            event_id=uuid7(), blob=SOURCE, filename="a.txt", vector_set=SMALL_CHUNKS, **ENVELOPE
        )
    )

    class PreviousUploaded(msgspec.Struct, frozen=True, kw_only=True, tag="DocumentUploaded"):
        event_id: str
        tenant_id: str
        blob: BlobRef
        filename: str

    older = msgspec.json.decode(written, type=PreviousUploaded | DocumentFailed)
    assert isinstance(older, PreviousUploaded)
    assert older.filename == "a.txt"


# --- records that are not events ------------------------------------------------------------


def _record(fixture: str = "v1/StageStarted.json", **changes: object) -> bytes:
    raw = json.loads((FIXTURES / fixture).read_bytes())
    raw.update(changes)
    return json.dumps(raw).encode()


BAD_RECORDS: list[Case[bytes | None, str]] = [
    Case("unknown type", _record(type="DocumentTeleported"), "invalid_event"),
    Case(
        "missing type", json.dumps({"event_id": "x", "schema_version": 1}).encode(), "invalid_event"
    ),
    Case("missing required field", _record(tenant_id=None), "invalid_event"),
    Case("unknown stage", _record(stage="dance"), "invalid_event"),
    Case(
        "unknown schema_version, valid body", _record(schema_version=99), "unknown_schema_version"
    ),
    Case(
        "unknown schema_version, unknown body",
        _record(schema_version=99, type="DocumentTeleported"),
        "unknown_schema_version",
    ),
    Case("schema_version not an int", _record(schema_version="1"), "unknown_schema_version"),
    Case(
        "a version only another event type has",
        _record(schema_version=2),
        "unknown_schema_version",
    ),
    Case(
        "parsed, a version newer than this release",
        _record("v2/DocumentParsed.json", schema_version=3),
        "unknown_schema_version",
    ),
    Case(
        "parsed v2, layout not a blob reference",
        _record("v2/DocumentParsed.json", layout="pages 1-3"),
        "invalid_event",
    ),
    Case("random bytes", b"\x8f\x01\xff" + hashlib.sha256(b"sluice").digest(), "not_json"),
    Case("JSON array", b"[1, 2]", "not_json"),
    Case("truncated JSON", _record()[:40], "not_json"),
    Case("empty bytes", b"", "empty_record"),
    Case("no value (tombstone)", None, "empty_record"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", BAD_RECORDS, ids=case_ids(BAD_RECORDS))
def test_records_that_are_not_events_raise(case: Case[bytes | None, str]) -> None:
    with pytest.raises(codec.EventDecodeError) as raised:
        codec.decode(case.given)
    assert raised.value.code == case.expected
    assert raised.value.message


# --- the layout blob ------------------------------------------------------------------------


@pytest.mark.unit
def test_a_layout_blob_round_trips_and_garbage_is_a_decode_error() -> None:
    layout = Layout(pages=[0, 120, 250], headings=[Heading(0, 1, "Intro"), Heading(130, 2, "Ü")])
    assert decode_layout(encode_layout(layout)) == layout
    assert decode_layout(b"{}") == Layout()
    for garbage in (b"", b"[1, 2]", b'{"pages": "1-3"}', b'{"headings": [{"start": 1}]}'):
        with pytest.raises(msgspec.DecodeError):
            decode_layout(garbage)


# --- ids ------------------------------------------------------------------------------------


@pytest.mark.unit
def test_uuid7_is_version_7_time_ordered_and_unique() -> None:
    before_ms = time.time_ns() // 1_000_000
    ids = [uuid7() for _ in range(10_000)]
    after_ms = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert [u.int for u in parsed] == sorted(u.int for u in parsed)
    first_ms, last_ms = parsed[0].int >> 80, parsed[-1].int >> 80
    # the counter may borrow a millisecond or two ahead of the clock when it overflows
    assert before_ms <= first_ms <= last_ms <= after_ms + 16


@pytest.mark.unit
def test_derived_id_is_deterministic_and_distinct() -> None:
    cause = uuid7()
    assert derived_id(cause, "parsed") == derived_id(cause, "parsed")
    assert uuid.UUID(derived_id(cause, "parsed")).version == 5
    assert derived_id(cause, "parsed") != derived_id(cause, "parse-failed")
    assert derived_id(cause, "parsed") != derived_id(uuid7(), "parsed")


@pytest.mark.unit
def test_document_id_for_is_deterministic_and_tenant_scoped() -> None:
    sha = os.urandom(32).hex()
    assert document_id_for("acme", sha) == document_id_for("acme", sha)
    assert document_id_for("acme", sha) != document_id_for("globex", sha)
    assert document_id_for("acme", sha) != document_id_for("acme", os.urandom(32).hex())


@pytest.mark.unit
def test_ids_are_stable_across_releases() -> None:
    # Pinned values: changing ID_NAMESPACE or the name format would split documents and
    # make redelivered events look new.
    assert (
        derived_id("0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b", "parsed")
        == "a5db8ce0-1f72-5d70-a266-bdf2f388b92a"
    )
    assert document_id_for("acme", "ab" * 32) == "3503f428-a01c-5407-846b-1d852702ea76"
