"""The exit codes of `sluice` (docs/cli.md), and the error that carries one."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """What a `sluice` process tells its caller."""

    OK = 0
    FAILED = 1  # a job ended `failed`, or an upload was refused
    USAGE = 2  # bad arguments or configuration
    UNREACHABLE = 3  # a service did not answer (connection, timeout, 502/503/504)
    UNAUTHORIZED = 4  # 401 or 403: the token is missing, invalid, or lacks the scope
    NOT_FOUND = 5  # 404: no such job, document or record for this tenant
    REFUSED = 6  # another 4xx, e.g. 409: retrying a job that has not failed
    TIMEOUT = 7  # --watch gave up before every job ended


class CliError(Exception):
    """A command cannot go on; `exit` is the process's exit code, the message says why."""

    def __init__(self, message: str, exit: Exit) -> None:
        super().__init__(message)
        self.exit = exit


def exit_for_status(status: int) -> Exit:
    """The exit code for an HTTP error status."""
    if status in (401, 403):
        return Exit.UNAUTHORIZED
    if status == 404:
        return Exit.NOT_FOUND
    if status in (502, 503, 504):
        return Exit.UNREACHABLE
    if 400 <= status < 500:
        return Exit.REFUSED
    return Exit.UNREACHABLE  # a 500 is a service failing to answer the question
