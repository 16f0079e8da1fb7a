"""How the sandbox names a worker that ended during a document, from its exit status."""

from __future__ import annotations

import signal

import pytest

from services.parser.adapters import frames
from services.parser.adapters.sandbox import Limits, _death
from services.parser.core.errors import INTERNAL, PARSE_TIMEOUT, RESOURCE_LIMIT

pytestmark = pytest.mark.unit

LIMITS = Limits(timeout_s=60.0, memory_mb=1024, cpu_s=30.0, file_mb=64)
CLOSED = frames.BrokenStreamError("the worker closed its pipe")


@pytest.mark.parametrize(
    ("status", "code", "named"),
    [
        (-signal.SIGSEGV, RESOURCE_LIMIT, "killed by SIGSEGV"),
        (-signal.SIGKILL, RESOURCE_LIMIT, "killed by SIGKILL"),
        (-signal.SIGXCPU, PARSE_TIMEOUT, "more than 30s of CPU time"),
        (3, RESOURCE_LIMIT, "exit status 3"),
        (0, RESOURCE_LIMIT, "the worker closed its pipe"),
    ],
)
def test_the_status_names_the_death(status: int, code: str, named: str) -> None:
    error = _death(status, CLOSED, LIMITS)
    assert error.code == code
    assert named in error.message


def test_a_garbled_pipe_is_a_fault_of_the_parser_whatever_the_status() -> None:
    error = _death(-signal.SIGSEGV, frames.BrokenStreamError("not a frame", garbled=True), LIMITS)
    assert error.code == INTERNAL
    assert "broke its protocol" in error.message
