"""What the consumer loop hands a stage: a decoded record and where it came from."""

from __future__ import annotations

import msgspec

from schemas.events import AnyEvent

Position = tuple[str, int]


class Delivery(msgspec.Struct, frozen=True):
    """A decoded record with where it came from; `retries` counts earlier retry attempts."""

    topic: str
    partition: int
    offset: int
    event: AnyEvent
    retries: int = 0
