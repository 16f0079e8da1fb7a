"""Upload validation and identity: what is accepted, and which ids it gets."""

from __future__ import annotations

import zipfile
from typing import Any

import msgspec

from schemas.events import BlobRef, DocumentUploaded, Origin, document_id_for
from services.common.archive import ArchiveTooLargeError, inspect_archive, is_zip
from services.common.errors import RefusedError
from services.common.jsonlimits import MAX_METADATA_DEPTH, JsonLimitError, decode_json_limited
from services.common.media import (
    ALLOWED_MEDIA_TYPES,
    is_blank,
    sanitize_filename,
    sniff_media_type,
    unsupported_reason,
)
from services.ingest.core.ports import UploadRecord

MAX_METADATA_BYTES = 16 * 1024
MAX_IDEMPOTENCY_KEY = 255


class UploadRejectedError(RefusedError):
    """The upload is refused; `status` is the HTTP status, the message the reason."""


class AcceptedUpload(msgspec.Struct, frozen=True):
    """A validated upload, ready to store and announce."""

    tenant_id: str
    document_id: str
    sha256: str
    media_type: str
    filename: str
    size: int
    metadata: dict[str, Any]


def validate_upload(
    *,
    tenant_id: str,
    data: bytes,
    sha256: str,
    filename: str | None,
    metadata_json: str | bytes | None,
    max_bytes: int,
) -> AcceptedUpload:
    """Check size, sniff the media type from the bytes, parse metadata; derive the document id.

    CPU-bound on large bodies (bounded, linear): callers on an event loop run it in a thread.
    """
    if not data:
        raise UploadRejectedError(400, "Empty upload", "the 'file' part is empty")
    if is_blank(data):
        raise UploadRejectedError(
            400, "Empty upload", "the file holds only whitespace: there is no text to index"
        )
    if len(data) > max_bytes:
        raise UploadRejectedError(
            413, "Upload too large", f"{len(data)} bytes exceeds the limit of {max_bytes} bytes"
        )
    _refuse_archive_bomb(data)
    media_type = sniff_media_type(data, filename)
    if media_type is None or media_type not in ALLOWED_MEDIA_TYPES:
        allowed = ", ".join(sorted(ALLOWED_MEDIA_TYPES))
        raise UploadRejectedError(
            415,
            "Unsupported media type",
            f"the content is {unsupported_reason(data)}; supported: {allowed}",
        )
    return AcceptedUpload(
        tenant_id=tenant_id,
        document_id=document_id_for(tenant_id, sha256),
        sha256=sha256,
        media_type=media_type,
        filename=sanitize_filename(filename),
        size=len(data),
        metadata=parse_metadata(metadata_json),
    )


def _refuse_archive_bomb(data: bytes) -> None:
    """Refuse (422) a ZIP-based upload that would unpack to more than a parser may hold."""
    if not is_zip(data):
        return
    try:
        inspect_archive(data)
    except ArchiveTooLargeError as error:
        raise UploadRejectedError(422, "Archive too large", error.message) from error
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a readable archive: the media-type check refuses it


def parse_metadata(raw: str | bytes | None) -> dict[str, Any]:
    """The optional `metadata` part: a JSON object of at most 16 KiB, 32 levels, without NUL.

    Postgres stores it as jsonb, which holds no NUL character; msgspec and the JSON encoders
    downstream recurse: both would otherwise fail the upload with a 500.
    """
    if raw is None or raw in ("", b""):
        return {}
    if len(raw) > MAX_METADATA_BYTES:
        raise UploadRejectedError(400, "Invalid metadata", "metadata is larger than 16 KiB")
    try:
        value = decode_json_limited(raw, max_depth=MAX_METADATA_DEPTH, allow_nul=False)
    except msgspec.DecodeError as error:
        raise UploadRejectedError(
            400, "Invalid metadata", f"metadata is not valid JSON: {error}"
        ) from error
    except JsonLimitError as error:
        raise UploadRejectedError(400, "Invalid metadata", f"metadata: {error}") from error
    if not isinstance(value, dict):
        raise UploadRejectedError(400, "Invalid metadata", "metadata must be a JSON object")
    return value


def check_idempotency_key(key: str | None) -> str | None:
    """A usable Idempotency-Key, or None; rejects absurd ones."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise UploadRejectedError(
            400, "Invalid Idempotency-Key", "Idempotency-Key must be 1-255 printable characters"
        )
    return key


def uploaded_event(record: UploadRecord, origin: Origin) -> DocumentUploaded:
    """The `DocumentUploaded` announcing a stored upload: the same event (same `event_id`)
    whoever sends it, the request or a relay, however often."""
    return DocumentUploaded(
        event_id=record.event_id,
        occurred_at=record.created_at,
        tenant_id=record.tenant_id,
        job_id=record.job_id,
        document_id=record.document_id,
        trace_id=record.job_id,
        origin=origin,
        blob=BlobRef(sha256=record.sha256, size=record.size, media_type=record.media_type),
        filename=record.filename,
        metadata=record.metadata,
    )
