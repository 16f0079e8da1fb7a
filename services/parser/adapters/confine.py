"""Confine the current (worker) process: no network, no privileges, die with the parent, limits.

Linux only; called by the parser worker before it imports any parser or reads any document.
Each step that the kernel may refuse (namespaces, capabilities) falls back quietly and says
what happened, so the parent can log it once; the steps that must hold (the parent-death
signal, the resource limits) raise.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import resource
import signal

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
MIB = 1024 * 1024

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, value, 0, 0, 0), f"prctl({option})")


def isolate_network() -> str:
    """Enter a new, empty network namespace: "isolated", or "shared: <why not>"."""
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    except OSError as privileged:
        try:  # without CAP_SYS_ADMIN: an unprivileged user namespace may still allow it
            _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNET), "unshare(CLONE_NEWUSER)")
        except OSError:
            return f"shared: {privileged.strerror}"
    return "isolated"


def drop_capabilities() -> None:
    """Give up every capability (root in a container stays uid 0, but without its powers)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies; exit now if the parent is already gone.

    Set after every credential change (unshare, capset), which would clear it.
    """
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def no_new_privileges() -> None:
    """execve can never grant privileges again (setuid binaries, file capabilities)."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def limit_resources(*, memory_mb: int, file_mb: int) -> None:
    """Address space and size of any written file; no core files."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * MIB, memory_mb * MIB))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * MIB, file_mb * MIB))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def limit_cpu(seconds: float) -> None:
    """Allow `seconds` more CPU time from now (SIGXCPU ends the process beyond it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def confine(*, parent: int, memory_mb: int, file_mb: int) -> str:
    """All of the above in a safe order; returns the network outcome for the parent's log."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a worker stops
    network = isolate_network()
    with contextlib.suppress(OSError):  # the kernel refuses: the other limits still hold
        drop_capabilities()
    no_new_privileges()
    die_with_parent(parent)
    limit_resources(memory_mb=memory_mb, file_mb=file_mb)
    return network
