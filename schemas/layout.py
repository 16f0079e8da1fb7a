"""Document layout: where pages and headings start in the parsed text (a blob beside the text)."""

from __future__ import annotations

from typing import Final

import msgspec

MEDIA_TYPE: Final = "application/vnd.sluice.layout+json"


class Heading(msgspec.Struct, frozen=True):
    """A heading: the character offset in the parsed text where it starts, its level, its words."""

    start: int
    level: int
    title: str


class Layout(msgspec.Struct, frozen=True):
    """Page and heading positions in a document's parsed text, for citations.

    `pages[i]` is the character offset where page (or slide) i + 1 starts; empty when the
    format has no pages. `headings` are in text order. Stored as a JSON blob next to the
    text and referenced by `DocumentParsed.layout`, so a 5,000-page PDF does not ride on Kafka.
    """

    pages: list[int] = msgspec.field(default_factory=list)
    headings: list[Heading] = msgspec.field(default_factory=list)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Layout)


def encode_layout(layout: Layout) -> bytes:
    """The layout blob's bytes (JSON)."""
    return _encoder.encode(layout)


def decode_layout(data: bytes) -> Layout:
    """A layout from its blob's bytes; raises msgspec.DecodeError when they are not one."""
    return _decoder.decode(data)
