"""Request bodies read without Litestar's coercion: the schema's types, or 400 with the reason."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import ClientException

Body = TypeVar("Body", bound=msgspec.Struct)


async def strict_body(request: Request[Any, Any, Any], kind: type[Body]) -> Body:
    """The (flat) body converted again without coercion: Litestar's own decoding turns `0` into
    `false`, `"5"` into `5` and `0` into a datetime, which the schema does not allow (400 with
    msgspec's reason). A whole number written as a float (`7.0`) is an integer to JSON Schema:
    it stays one. Routes keep their typed `data` parameter, which documents the body."""
    raw = await request.json()
    if isinstance(raw, dict):
        raw = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in raw.items()}
    try:
        return msgspec.convert(raw, kind, strict=True)
    except msgspec.ValidationError as error:
        raise ClientException(f"Invalid body: {error}") from error
