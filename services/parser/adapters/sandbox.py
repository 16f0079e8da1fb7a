"""Runs extraction in confined worker processes, one document per worker at a time.

Design: the sandbox owns N long-lived workers (`python -m services.parser.adapters.worker`),
each a plain subprocess speaking length-prefixed msgpack frames over its stdin/stdout
(services/parser/adapters/frames.py). A document takes an idle worker, and no other document
shares that process while it parses. So a cost is paid by the document that causes it:

- wall-clock timeout: only that worker is killed (SIGKILL) and a replacement starts at once;
  the document ends `parse_timeout`, the documents on the other workers go on untouched;
- CPU time beyond the limit (RLIMIT_CPU, re-armed per document): the kernel ends the worker
  with SIGXCPU: `parse_timeout`;
- memory beyond RLIMIT_AS: the worker answers `resource_limit` and retires (or dies; same
  code), and a replacement starts;
- any other exception in the extractor comes back as `internal_error` with its type and message.

Workers start with an allow-listed environment (no SLUICE_* secrets, no database URL), in their
own session (a Ctrl-C on the terminal does not reach them), and confine themselves before they
read a document: a new network namespace where the kernel allows it, no capabilities,
no_new_privs, the parent-death signal (SIGKILL) and rlimits (services/parser/adapters/confine.py).
A worker also exits when its stdin closes. There is no multiprocessing machinery (forkserver,
resource tracker) that could outlive a killed parser.

Long-lived workers, not one process per document: starting Python and importing the parsers
costs far more than parsing a typical upload (see docs/architecture.md for the numbers).
Workers must be started from a thread that lives as long as the sandbox (the event loop's):
the parent-death signal follows the thread that forked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import dataclass

from services.common.errors import InfrastructureError
from services.parser.adapters import frames
from services.parser.core.errors import INTERNAL, PARSE_TIMEOUT, RESOURCE_LIMIT, ParseError
from services.parser.core.parsed import ParsedText

log = logging.getLogger(__name__)

DEFAULT_EXTRACTOR = "services.parser.core.extract:extract"
ENVIRONMENT_ALLOWED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR")
START_TIMEOUT_S = 60.0  # importing the parsers on a loaded machine
STOP_GRACE_S = 2.0
STDERR_LINE = 2000


class SandboxUnavailableError(InfrastructureError):
    """No worker could be started (or the sandbox is closed): the parser's fault, not the file's.

    Not a ParseError: the document must not fail for it; the consumer loop treats it as an
    outage (pause and retry the same records), see services/common/failures.py.
    """


@dataclass(frozen=True)
class Limits:
    """What one document may use."""

    timeout_s: float
    memory_mb: int
    cpu_s: float
    file_mb: int


def worker_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The workers' environment: an allow-list of the parent's, plus the import path."""
    source = dict(os.environ) if environ is None else environ
    env = {name: source[name] for name in ENVIRONMENT_ALLOWED if name in source}
    paths = [os.path.abspath(p or os.curdir) for p in sys.path]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if os.path.isdir(p)))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class _Worker:
    """One started worker process and its pipes."""

    def __init__(self, process: asyncio.subprocess.Process, network: str) -> None:
        self.process = process
        self.network = network
        self.pid = process.pid
        assert process.stderr is not None  # noqa: S101 - created with a pipe
        self._relay = asyncio.ensure_future(_relay_stderr(self.pid, process.stderr))

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def call(self, job: bytes) -> frames.Reply:
        """Send one job and wait for its reply; BrokenStreamError when the worker ended first."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None  # noqa: S101 - created with pipes
        try:
            stdin.write(job)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise frames.BrokenStreamError("the worker closed its pipe") from None
        return await frames.read_reply(stdout)

    async def kill(self) -> int:
        """SIGKILL and reap; the exit status."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        return await self.stop()

    async def stop(self) -> int:
        """Close stdin (the worker exits), wait a moment, then kill; reap; the exit status."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            status = await asyncio.wait_for(self.process.wait(), STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            status = await self.process.wait()
        await asyncio.wait({self._relay}, timeout=STOP_GRACE_S)
        self._relay.cancel()  # a grandchild may still hold stderr open
        return status


async def _relay_stderr(pid: int, stream: asyncio.StreamReader) -> None:
    """A worker's stderr (tracebacks, stray prints) into this process's log, line by line."""
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line over the reader's limit: drop what is buffered
            line = b"(a line too long to log)\n"
        if not line:
            return
        text = line.decode(errors="replace").rstrip()[:STDERR_LINE]
        if text:
            log.warning("parser worker %d: %s", pid, text)


def _expect_ready(reply: frames.Reply) -> frames.Ready:
    if not isinstance(reply, frames.Ready):
        raise frames.BrokenStreamError(f"expected Ready, got {type(reply).__name__}", garbled=True)
    return reply


def _settled(task: asyncio.Task[_Worker]) -> None:
    """Mark a successor's failure as seen: the next document that takes its slot reports it."""
    if not task.cancelled():
        task.exception()


class ParserSandbox:
    """Parses documents in confined worker processes; a document's hang or blow-up is its own."""

    def __init__(
        self,
        workers: int,
        timeout_s: float,
        memory_mb: int,
        *,
        cpu_s: float | None = None,
        file_mb: int = 64,
        extractor: str = DEFAULT_EXTRACTOR,
    ) -> None:
        if workers < 1:
            raise ValueError("a parser sandbox needs at least one worker")
        self.workers = workers
        self.extractor = extractor
        self.limits = Limits(timeout_s, memory_mb, timeout_s if cpu_s is None else cpu_s, file_mb)
        self._idle: asyncio.Queue[_Worker | asyncio.Task[_Worker] | None] = asyncio.Queue()
        for _ in range(workers):
            self._idle.put_nowait(None)  # a slot whose worker starts on first use
        self._live: set[_Worker] = set()
        self._starting: set[asyncio.Task[_Worker]] = set()
        self.network: str | None = None  # "isolated" or "shared: <why>", once a worker started
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker now, so a broken installation fails the service at start."""
        slots = [self._idle.get_nowait() for _ in range(self._idle.qsize())]
        try:
            started = await asyncio.gather(*(self._spawn() for _ in slots))
        except BaseException:
            for slot in slots:
                self._idle.put_nowait(slot)
            raise
        for worker in started:
            self._idle.put_nowait(worker)

    async def close(self) -> None:
        """Stop every worker (stdin closed, then SIGKILL after a grace period) and reap them."""
        self._closed = True
        for task in list(self._starting):
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        await asyncio.gather(*(worker.stop() for worker in list(self._live)))
        self._live.clear()

    def worker_pids(self) -> list[int]:
        """The pids of the workers now running (for operators and tests)."""
        return sorted(worker.pid for worker in self._live if worker.alive)

    async def _spawn(self) -> _Worker:
        if self._closed:
            raise SandboxUnavailableError("the parser sandbox is closed")
        command = [
            sys.executable, "-P", "-s", "-m", "services.parser.adapters.worker",
            "--parent", str(os.getpid()), "--extractor", self.extractor,
            "--memory-mb", str(self.limits.memory_mb), "--cpu-s", str(self.limits.cpu_s),
            "--file-mb", str(self.limits.file_mb),
        ]  # fmt: skip
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=worker_environment(),
                cwd="/",
                start_new_session=True,
            )
        except OSError as error:
            raise SandboxUnavailableError(f"cannot start a parser worker: {error}") from error
        return await self._await_ready(process)

    async def _await_ready(self, process: asyncio.subprocess.Process) -> _Worker:
        worker = _Worker(process, network="")
        self._live.add(worker)
        try:
            assert process.stdout is not None  # noqa: S101 - created with a pipe
            ready = _expect_ready(
                await asyncio.wait_for(frames.read_reply(process.stdout), START_TIMEOUT_S)
            )
        except (frames.BrokenStreamError, TimeoutError) as error:
            self._live.discard(worker)
            # One that closed its pipe is ending: `stop` keeps its own exit status (see
            # `_run`); one that said nothing in time is killed.
            timed_out = isinstance(error, TimeoutError)
            status = await (worker.kill() if timed_out else worker.stop())
            why = f"not ready within {START_TIMEOUT_S:g}s" if timed_out else str(error)
            raise SandboxUnavailableError(
                f"a parser worker did not start ({why}; exit status {status}; "
                "its stderr is in this service's log)"
            ) from None
        except BaseException:
            self._live.discard(worker)
            await worker.kill()
            raise
        worker.network = ready.network
        self._log_network(ready.network)
        return worker

    def _log_network(self, network: str) -> None:
        if self.network is None:
            self.network = network
            if network == "isolated":
                log.info("parser workers run without network (own network namespace)")
            else:
                log.warning("parser workers keep the host network (%s)", network)

    def _replace(self, worker: _Worker) -> asyncio.Task[_Worker] | None:
        """Kill `worker` and start its successor in the background (none once closed)."""

        async def successor() -> _Worker:
            self._live.discard(worker)
            await worker.kill()
            return await self._spawn()

        if self._closed:
            return None
        task = asyncio.ensure_future(successor())
        self._starting.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._starting.discard)
        return task

    async def _take(self) -> _Worker:
        """The worker of an idle slot, started (or restarted) if need be."""
        slot = await self._idle.get()
        try:
            if isinstance(slot, asyncio.Task):
                return await asyncio.shield(slot)
            if slot is not None and slot.alive:
                return slot
            if slot is not None:  # it ended while idle
                self._live.discard(slot)
                await slot.kill()
            return await self._spawn()
        except asyncio.CancelledError:
            if isinstance(slot, asyncio.Task) and slot.cancelled():  # close() stopped its start
                self._idle.put_nowait(None)
                raise SandboxUnavailableError("the parser sandbox is closed") from None
            self._idle.put_nowait(slot if isinstance(slot, asyncio.Task) else None)
            raise
        except Exception:
            self._idle.put_nowait(None)  # the next document tries a fresh start
            raise

    # -- parsing -----------------------------------------------------------------------------

    async def extract(self, data: bytes, media_type: str) -> ParsedText:
        """Parsed text, or ParseError with a named code; never another exception for a file.

        SandboxUnavailableError means no worker could be started (or the sandbox closed):
        the parser's fault, not the document's; retry the batch later.
        """
        if self._closed:
            raise SandboxUnavailableError("the parser sandbox is closed")
        worker = await self._take()
        successor: _Worker | asyncio.Task[_Worker] | None = worker
        try:
            reply = await self._run(worker, frames.encode(frames.Job(data, media_type)))
            if isinstance(reply, frames.Failed) and reply.retire:
                successor = self._replace(worker)
        except BaseException:  # timed out, died, or cancelled mid-document: never reuse it
            successor = self._replace(worker)
            raise
        finally:
            self._idle.put_nowait(successor)
        if isinstance(reply, frames.Parsed):
            return reply.result
        raise ParseError(reply.code, reply.message)

    async def _run(self, worker: _Worker, job: bytes) -> frames.Parsed | frames.Failed:
        """One job on one worker; a worker that times out, dies or garbles becomes a ParseError."""
        limits = self.limits
        try:
            async with asyncio.timeout(limits.timeout_s):
                reply = await worker.call(job)
        except TimeoutError:
            log.warning(
                "parser worker %d: over %gs on a document, replaced", worker.pid, limits.timeout_s
            )
            raise ParseError(
                PARSE_TIMEOUT,
                f"parsing took longer than {limits.timeout_s:g}s; the file may be malformed "
                "or too complex: simplify or split it and upload again",
            ) from None
        except frames.BrokenStreamError as error:
            # The worker closed its pipe: it has ended or is ending. `stop` lets asyncio reap it
            # and keep its status; an immediate `kill` would have Popen.send_signal's poll reap
            # a dead worker first (asyncio then reports exit status 255, and a CPU-time death
            # would be named a crash).
            status = await worker.stop()
            log.warning(
                "parser worker %d ended during a document (%s, status %d)",
                worker.pid,
                error,
                status,
            )
            if self._closed:
                raise SandboxUnavailableError("the parser sandbox closed during parsing") from None
            raise _death(status, error, limits) from None
        if isinstance(reply, frames.Ready):
            raise _death(0, frames.BrokenStreamError("Ready out of turn", garbled=True), limits)
        return reply


def _death(status: int, error: frames.BrokenStreamError, limits: Limits) -> ParseError:
    """The named failure for a worker that ended (or garbled its pipe) during a document."""
    if error.garbled:
        return ParseError(
            INTERNAL,
            f"the parser worker broke its protocol on this file ({error}); this is a fault in "
            "the parser, not necessarily in the file: report it to the operators with the job id",
        )
    if status == -signal.SIGXCPU:
        return ParseError(
            PARSE_TIMEOUT,
            f"parsing used more than {limits.cpu_s:g}s of CPU time; the file may be malformed "
            "or too complex: simplify or split it and upload again",
        )
    if status < 0:
        try:
            how = f"killed by {signal.Signals(-status).name}"
        except ValueError:
            how = f"killed by signal {-status}"
    elif status > 0:
        how = f"exit status {status}"
    else:
        how = str(error)
    return ParseError(
        RESOURCE_LIMIT,
        f"the parser process died on this file ({how}); it may need more than the "
        f"{limits.memory_mb} MiB a parser may use, or be malformed in a way that crashes a"
        " reader: split, simplify or re-export it and upload again",
    )
