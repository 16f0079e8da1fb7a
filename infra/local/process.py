"""Start, signal and reap the background processes the local runners own."""

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this child when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    cmd: Sequence[str],
    *,
    log_file: Path,
    detach: bool,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: int | None = None,
    group: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own process group with stdout and stderr appended to `log_file`.

    Detached children outlive the caller; attached ones get SIGTERM when the caller dies.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            user=user,
            group=group,
            extra_groups=[] if user is not None else None,
            start_new_session=True,
            preexec_fn=None if detach else _die_with_parent,  # noqa: PLW1509
        )


def is_alive(pid: int, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Say whether `pid` runs. Our own child counts as alive until it is reaped (a killed
    process with threads still exiting is not gone yet); another process's zombie is dead."""
    if proc is not None and proc.pid == pid:
        return proc.poll() is None
    # Look without reaping (WNOWAIT): a zombie keeps its pid until its owner (a Popen, asyncio's
    # child watcher) reaps it. Reaping here freed the pid for reuse while a Popen still named it,
    # and that Popen's later poll reaped an unrelated child with the reused pid (seen as a
    # sandbox worker's SIGSEGV reported as "exit status 255").
    try:
        exited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        pass  # not our child, or already reaped: ask /proc
    else:
        return exited is None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


def cmdline(pid: int) -> str:
    """The command line of `pid`, or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state first), or [] when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def started(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot), or None when it is gone.

    A pid and its start time name one process even after the pid has been reused.
    """
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def in_sessions(sids: set[int]) -> dict[int, str]:
    """Live processes whose session id is in `sids`, with their command lines.

    Every runner child leads its own session, and its descendants stay in it even when they
    are orphaned, so this finds what a killed service left behind.
    """
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        if fields and fields[0] not in {"Z", "X"} and int(fields[3]) in sids:
            found[int(entry.name)] = cmdline(int(entry.name))
    return found


def left_in_sessions(leaders: Mapping[int, int | None]) -> dict[int, str]:
    """Live processes in the sessions that `leaders` (leader pid -> its start time) led.

    Linux hands out a pid again only once no process has it as its session id, so a leader's
    pid that now names a process started at another time means that session is gone, and the
    processes in the new one are someone else's: they are not counted.
    """
    ours = {pid for pid, start in leaders.items() if started(pid) in (None, start)}
    return in_sessions(ours)


def kill_all(pids: Mapping[int, str], timeout: float = 10.0) -> None:
    """SIGKILL each of `pids` and wait (up to `timeout` each) until it is gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        wait_dead(pid, timeout)


def wait_dead(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait up to `timeout` seconds for `pid` to exit; say whether it did."""
    deadline = time.monotonic() + timeout
    while is_alive(pid, proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group led by `pid` (each runner child leads its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def terminate(
    pid: int,
    *,
    sig: signal.Signals,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Send `sig` to `pid`, then SIGKILL its whole group if it has not exited after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    reap(pid, timeout=timeout, proc=proc)


def reap(pid: int, *, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait up to `timeout` for `pid` (already signalled) to exit, SIGKILL its group if it has
    not, and SIGKILL what is left of the group either way."""
    if not wait_dead(pid, timeout, proc):
        signal_group(pid, signal.SIGKILL)
        wait_dead(pid, 10.0, proc)
    signal_group(pid, signal.SIGKILL)  # leftovers of a crashed leader


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
