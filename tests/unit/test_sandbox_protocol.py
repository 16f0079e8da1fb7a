"""The parser worker's frames, its failure naming and its environment, without processes."""

from __future__ import annotations

import errno
import io
from dataclasses import dataclass

import pytest

from services.parser.adapters import frames
from services.parser.adapters.sandbox import worker_environment
from services.parser.adapters.worker import serve_one
from services.parser.core.errors import INTERNAL, RESOURCE_LIMIT, ParseError
from services.parser.core.parsed import ParsedText
from tests.fixtures.extractors import PdfString

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Case:
    """One table row: what is given and what is expected."""

    description: str
    given: BaseException
    expected: tuple[str, str, bool]  # code, a part of the message, retire


def _reply(frame: bytes) -> frames.Reply:
    return frames.decode_reply(frame[frames.HEADER.size :])


def test_a_job_goes_through_a_pipe_unchanged() -> None:
    job = frames.Job(data=b"\x00%PDF-1.7 bytes", media_type="application/pdf")
    pipe = io.BytesIO(frames.encode(job) + frames.encode(job))
    assert frames.read_job(pipe) == job
    assert frames.read_job(pipe) == job
    assert frames.read_job(pipe) is None  # the parent closed its end


def test_a_truncated_job_reads_as_a_closed_pipe() -> None:
    frame = frames.encode(frames.Job(data=b"abc", media_type="text/plain"))
    assert frames.read_job(io.BytesIO(frame[:-1])) is None
    assert frames.read_job(io.BytesIO(frame[:2])) is None


def test_a_str_subclass_goes_on_the_wire_as_plain_text() -> None:
    parsed = ParsedText(text=PdfString("outline"), title=PdfString("title"), sections=["a"])
    reply = _reply(frames.encode(frames.Parsed(parsed)))
    assert isinstance(reply, frames.Parsed)
    assert reply.result == ParsedText(text="outline", title="title", sections=["a"])
    assert type(reply.result.text) is str


@pytest.mark.parametrize("body", [b"", b"\xc1", b"junk!", frames.encode(frames.Job(b"", "x"))[4:]])
def test_anything_but_a_reply_is_a_garbled_stream(body: bytes) -> None:
    with pytest.raises(frames.BrokenStreamError) as broken:
        frames.decode_reply(body)
    assert broken.value.garbled


def test_a_frame_announcing_more_than_the_limit_is_garbled() -> None:
    header = frames.HEADER.pack(frames.MAX_FRAME + 1)
    with pytest.raises(frames.BrokenStreamError) as broken:
        frames.read_job(io.BytesIO(header + b"x"))
    assert broken.value.garbled


RESOURCES = RESOURCE_LIMIT
CASES = [
    Case("a parse error keeps its code", ParseError("corrupt_file", "broken"),
         ("corrupt_file", "broken", False)),
    Case("out of memory", MemoryError(), (RESOURCES, "512 MiB", True)),
    Case("a file too big", OSError(errno.EFBIG, "File too large"), (RESOURCES, "8 MiB", False)),
    Case("a bug", TypeError("Encoding objects of type TextStringObject is unsupported"),
         (INTERNAL, "TypeError: Encoding objects of type TextStringObject", False)),
    Case("another OSError", OSError(errno.ENOENT, "gone"), (INTERNAL, "FileNotFoundError", False)),
    Case("sys.exit in a library", SystemExit(3), (INTERNAL, "SystemExit: 3", True)),
    Case("a very long message", ValueError("x" * 5000), (INTERNAL, "ValueError: xxx", False)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.description for case in CASES])
def test_every_exception_in_the_extractor_becomes_a_named_failure(case: Case) -> None:
    def extractor(data: bytes, media_type: str) -> ParsedText:
        raise case.given

    frame, retire = serve_one(frames.Job(b"", "text/plain"), extractor, memory_mb=512, file_mb=8)
    reply = _reply(frame)
    assert isinstance(reply, frames.Failed)
    code, part, retires = case.expected
    assert (reply.code, retire, reply.retire) == (code, retires, retires)
    assert part in reply.message
    assert len(reply.message) < 600


def test_an_extractor_returning_something_else_is_an_internal_error() -> None:
    def extractor(data: bytes, media_type: str) -> ParsedText:
        return {"text": "not a ParsedText"}  # type: ignore[return-value]

    reply = _reply(serve_one(frames.Job(b"", "x"), extractor, memory_mb=512, file_mb=8)[0])
    assert isinstance(reply, frames.Failed)
    assert reply.code == INTERNAL
    assert "returned dict" in reply.message


def test_the_worker_environment_is_an_allow_list() -> None:
    parent = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "HOME": "/home/sluice",
        "SLUICE_JWT_SECRET": "s" * 40,
        "SLUICE_DATABASE_URL": "postgresql://user:password@db/sluice",
        "AWS_SECRET_ACCESS_KEY": "key",
        "PYTHONPATH": "/somewhere/else",
        "LD_PRELOAD": "/srv/evil.so",
    }
    env = worker_environment(parent)
    assert {"PATH", "LANG", "HOME"} <= env.keys()
    assert env.keys() <= {"PATH", "LANG", "HOME", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}
    assert "/somewhere/else" not in env["PYTHONPATH"]  # the import path is the parser's own
