"""A parser worker process: `python -m services.parser.adapters.worker`, started by ParserSandbox.

It confines itself (services/parser/adapters/confine.py), imports its extractor, says Ready,
then reads one Job frame at a time from stdin and answers each with Parsed or Failed on
stdout, until stdin closes. Whatever happens inside the extractor comes back as a Failed with
a named code; only a kill (timeout, CPU or memory limit, crash) ends the worker without one.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Callable
from typing import BinaryIO

from services.parser.adapters import frames
from services.parser.adapters.confine import confine, limit_cpu
from services.parser.core.errors import INTERNAL, RESOURCE_LIMIT, ParseError
from services.parser.core.parsed import ParsedText

Extractor = Callable[[bytes, str], ParsedText]
MAX_DETAIL = 300


def load_extractor(spec: str) -> Extractor:
    """The function named `module:function`."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError(f"extractor must be 'module:function', got {spec!r}")
    function: Extractor = getattr(importlib.import_module(module_name), name)
    return function


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def _failure(error: BaseException, *, memory_mb: int, file_mb: int) -> frames.Failed:
    """The named failure for an exception raised while parsing one document."""
    if isinstance(error, ParseError):
        return frames.Failed(str(error.code), str(error.message))
    if isinstance(error, MemoryError):
        return frames.Failed(
            RESOURCE_LIMIT,
            f"the document needs more memory than a parser may use ({memory_mb} MiB); "
            "split or simplify it and upload again",
            retire=True,  # a MemoryError can leave the interpreter in a poor state
        )
    if isinstance(error, OSError) and error.errno == errno.EFBIG:
        return frames.Failed(
            RESOURCE_LIMIT,
            f"parsing the document wrote more than {file_mb} MiB to a file; "
            "split or simplify it and upload again",
        )
    return frames.Failed(
        INTERNAL,
        f"the parser failed unexpectedly on this file ({_describe(error)}); this is a fault "
        "in the parser, not necessarily in the file: report it to the operators with the job id",
        retire=not isinstance(error, Exception),  # SystemExit and the like: start afresh
    )


def _checked(parsed: object) -> ParsedText:
    if not isinstance(parsed, ParsedText):
        raise TypeError(f"the extractor returned {type(parsed).__name__}, not ParsedText")
    return parsed


def serve_one(
    job: frames.Job, extractor: Extractor, *, memory_mb: int, file_mb: int
) -> tuple[bytes, bool]:
    """The encoded reply to one job, and whether to retire after sending it.

    Never raises for anything the document causes, including a result that cannot be encoded.
    """
    try:
        parsed = _checked(extractor(job.data, job.media_type))
        return frames.encode(frames.Parsed(parsed)), False
    except BaseException as error:  # noqa: BLE001 - every failure must reach the parent named
        failed = _failure(error, memory_mb=memory_mb, file_mb=file_mb)
        return frames.encode(failed), failed.retire


def _private_pipes() -> tuple[BinaryIO, BinaryIO]:
    """The frame pipes on private descriptors; fd 0 reads /dev/null and fd 1 goes to stderr.

    A library that prints (or a C extension writing to fd 1) cannot corrupt the frames.
    """
    jobs_fd, replies_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return os.fdopen(jobs_fd, "rb"), os.fdopen(replies_fd, "wb")


def serve(args: argparse.Namespace) -> int:
    """Confine, load, announce, and answer jobs until the parent closes the pipe."""
    jobs, replies = _private_pipes()
    network = confine(parent=args.parent, memory_mb=args.memory_mb, file_mb=args.file_mb)
    extractor = load_extractor(args.extractor)
    frames.write_frame(replies, frames.encode(frames.Ready(pid=os.getpid(), network=network)))
    while (job := frames.read_job(jobs)) is not None:
        limit_cpu(args.cpu_s)
        reply, retire = serve_one(job, extractor, memory_mb=args.memory_mb, file_mb=args.file_mb)
        del job
        frames.write_frame(replies, reply)
        if retire:
            break
    return 0


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The worker's command line (ParserSandbox builds it)."""
    parser = argparse.ArgumentParser(prog="services.parser.adapters.worker", description=__doc__)
    parser.add_argument("--parent", type=int, required=True, help="pid to die with")
    parser.add_argument("--extractor", required=True, help="module:function")
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--cpu-s", type=float, required=True)
    parser.add_argument("--file-mb", type=int, required=True)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(serve(arguments()))
