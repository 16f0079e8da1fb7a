"""The parser worker's wire protocol: length-prefixed msgpack frames over a pipe, both ends."""

from __future__ import annotations

import asyncio
import struct
from typing import Any, BinaryIO

import msgspec

from services.parser.core.parsed import ParsedText

HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 31  # a frame announcing more is a broken stream, not a document


class Job(msgspec.Struct, tag="job", frozen=True):
    """Parent to worker: one document to parse."""

    data: bytes
    media_type: str


class Ready(msgspec.Struct, tag="ready", frozen=True):
    """Worker to parent, once, after start: confined, limits set, extractor imported."""

    pid: int
    network: str  # "isolated", or "shared: <why not>"


class Parsed(msgspec.Struct, tag="parsed", frozen=True):
    """Worker to parent: the document's text."""

    result: ParsedText


class Failed(msgspec.Struct, tag="failed", frozen=True):
    """Worker to parent: a named failure; `retire` asks the parent to replace the worker."""

    code: str
    message: str
    retire: bool = False


Reply = Ready | Parsed | Failed


class BrokenStreamError(Exception):
    """The other end closed the pipe (`garbled` False) or sent something that is not a frame."""

    def __init__(self, message: str, *, garbled: bool = False) -> None:
        super().__init__(message)
        self.garbled = garbled


def _plain(value: Any) -> Any:
    """enc_hook: a str subclass (pypdf's TextStringObject) goes on the wire as a plain str."""
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"Encoding objects of type {type(value).__name__} is unsupported")


_encoder = msgspec.msgpack.Encoder(enc_hook=_plain)
_jobs = msgspec.msgpack.Decoder(Job)
_replies = msgspec.msgpack.Decoder(Reply)


def encode(message: Job | Reply) -> bytes:
    """One frame: a 4-byte big-endian length, then the msgpack body."""
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


def decode_reply(body: bytes) -> Reply:
    """A worker's reply, or BrokenStreamError when it is not one."""
    try:
        reply: Reply = _replies.decode(body)
    except msgspec.DecodeError as error:
        raise BrokenStreamError(f"unreadable reply ({error})", garbled=True) from None
    return reply


def _length(header: bytes) -> int:
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME:
        raise BrokenStreamError(f"frame of {length} bytes announced", garbled=True)
    return int(length)


def read_job(stream: BinaryIO) -> Job | None:
    """In the worker: the next job, or None when the parent closed the pipe."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    length = _length(header)
    body = stream.read(length)
    if len(body) < length:
        return None
    try:
        return _jobs.decode(body)
    except msgspec.DecodeError as error:
        raise BrokenStreamError(f"unreadable job ({error})", garbled=True) from None


def write_frame(stream: BinaryIO, frame: bytes) -> None:
    """In the worker: send one encoded frame now."""
    stream.write(frame)
    stream.flush()


async def read_reply(stream: asyncio.StreamReader) -> Reply:
    """In the parent: the worker's next reply; BrokenStreamError when the pipe ended first."""
    try:
        length = _length(await stream.readexactly(HEADER.size))
        body = await stream.readexactly(length)
    except asyncio.IncompleteReadError:
        raise BrokenStreamError("the worker closed its pipe") from None
    return decode_reply(body)
