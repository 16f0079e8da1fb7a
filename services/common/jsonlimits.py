"""Limits on untrusted JSON: nesting depth and NUL characters, checked without recursion.

msgspec raises RecursionError on JSON nested about a thousand levels deep, and Postgres
refuses a NUL character in `text` and `jsonb`: both would surface as a 500. Callers decode
with `decode_json_limited` (or check a decoded value with `check_json`) and answer 400.
"""

from __future__ import annotations

from typing import Any

import msgspec

MAX_BODY_DEPTH = 64  # request bodies (search): far deeper than any real one
MAX_METADATA_DEPTH = 32  # upload metadata, stored as jsonb and carried on every event


class JsonLimitError(ValueError):
    """The JSON is deeper than allowed, or holds a NUL character where none may be."""


def check_json(value: Any, *, max_depth: int, allow_nul: bool = True) -> None:
    """Raise JsonLimitError if `value` nests deeper than `max_depth` (or holds NUL)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                raise JsonLimitError(f"JSON nested deeper than {max_depth} levels")
            for key, child in item.items():
                if not allow_nul and "\x00" in key:
                    raise JsonLimitError("a JSON key holds a NUL character (\\u0000)")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                raise JsonLimitError(f"JSON nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in item)
        elif not allow_nul and isinstance(item, str) and "\x00" in item:
            raise JsonLimitError("a JSON string holds a NUL character (\\u0000)")


def decode_json_limited(raw: str | bytes, *, max_depth: int, allow_nul: bool = True) -> Any:
    """Decode `raw`; JsonLimitError when too deep or holding a forbidden NUL.

    msgspec.DecodeError still means malformed JSON.
    """
    try:
        value = msgspec.json.decode(raw)
    except RecursionError as error:
        raise JsonLimitError(f"JSON nested deeper than {max_depth} levels") from error
    check_json(value, max_depth=max_depth, allow_nul=allow_nul)
    return value
