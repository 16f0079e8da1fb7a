"""Encoding and decoding of pipeline events (JSON on the wire), with upcasting of old versions."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from schemas.events import SCHEMA_VERSION, AnyEvent

SUPPORTED_VERSIONS: Final = frozenset({1})

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)
_raw_decoder = msgspec.json.Decoder(dict[str, Any])


class EventDecodeError(Exception):
    """A record that is not a pipeline event this version understands; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def encode(event: AnyEvent) -> bytes:
    """Serialise an event to JSON bytes."""
    return _encoder.encode(event)


def decode(data: bytes | None) -> AnyEvent:
    """Parse JSON bytes into an event; a schema_version outside SUPPORTED_VERSIONS is refused."""
    if not data:
        raise EventDecodeError("empty_record", "record value is empty")
    try:
        event = _decoder.decode(data)
    except msgspec.DecodeError as fast_error:
        raw = _raw(data, fast_error)
        version = raw.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version not in SUPPORTED_VERSIONS:
            raise EventDecodeError(
                "unknown_schema_version", f"schema_version {version!r} is not supported"
            ) from fast_error
        raise EventDecodeError("invalid_event", str(fast_error)) from fast_error
    if event.schema_version not in SUPPORTED_VERSIONS:
        raise EventDecodeError(
            "unknown_schema_version", f"schema_version {event.schema_version!r} is not supported"
        )
    return event


def _raw(data: bytes, cause: Exception) -> dict[str, Any]:
    try:
        return _raw_decoder.decode(data)
    except msgspec.DecodeError:
        raise EventDecodeError("not_json", f"record is not a JSON object: {cause}") from cause


def schema() -> dict[str, Any]:
    """JSON Schema for every pipeline event (the tagged union)."""
    return msgspec.json.schema(AnyEvent)
