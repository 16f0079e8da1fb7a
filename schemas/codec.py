"""Encoding and decoding of pipeline events (JSON on the wire), with upcasting of old versions."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from schemas.events import AnyEvent, version_of

# Every version from 1 up to the one this release writes, per event type: a consumer accepts
# the records of older producers (a v1 DocumentParsed decodes with `layout=None`).
SUPPORTED_VERSIONS: Final[Mapping[str, frozenset[int]]] = {
    cls.__name__: frozenset(range(1, version_of(cls) + 1)) for cls in typing.get_args(AnyEvent)
}
_ANY_VERSION: Final = frozenset().union(*SUPPORTED_VERSIONS.values())

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
    """Parse JSON bytes into an event; a schema_version its type does not support is refused."""
    if not data:
        raise EventDecodeError("empty_record", "record value is empty")
    try:
        event = _decoder.decode(data)
    except msgspec.DecodeError as fast_error:
        raw = _raw(data, fast_error)
        supported = SUPPORTED_VERSIONS.get(str(raw.get("type")), _ANY_VERSION)
        version = raw.get("schema_version", min(supported))
        if not isinstance(version, int) or version not in supported:
            raise EventDecodeError(
                "unknown_schema_version", f"schema_version {version!r} is not supported"
            ) from fast_error
        raise EventDecodeError("invalid_event", str(fast_error)) from fast_error
    if event.schema_version not in SUPPORTED_VERSIONS[type(event).__name__]:
        raise EventDecodeError(
            "unknown_schema_version",
            f"schema_version {event.schema_version!r} of {type(event).__name__} is not supported",
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
