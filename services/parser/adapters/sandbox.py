"""Runs extraction in worker processes with a time and memory limit per document."""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import msgspec

from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from services.parser.core.parsed import ParsedText

TIMEOUT = "parse_timeout"
RESOURCES = "resource_limit"


def _limit_memory(megabytes: int) -> None:
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _work(data: bytes, media_type: str) -> tuple[bool, bytes]:
    """In the worker: (True, msgpack ParsedText) or (False, msgpack [code, message])."""
    try:
        parsed = extract(data, media_type)
    except ParseError as error:
        return False, msgspec.msgpack.encode([error.code, error.message])
    except MemoryError:
        return False, msgspec.msgpack.encode(
            [RESOURCES, "the document needs more memory than a parser may use"]
        )
    return True, msgspec.msgpack.encode(parsed)


class ParserSandbox:
    """A pool of parser processes; a hung or exploding document only costs its worker."""

    def __init__(self, workers: int, timeout_s: float, memory_mb: int) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._slots = asyncio.Semaphore(workers)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_limit_memory,
            initargs=(self.memory_mb,),
        )

    async def extract(self, data: bytes, media_type: str) -> ParsedText:
        """Parsed text, or ParseError (including timeouts and resource exhaustion)."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._pool, _work, data, media_type)
            try:
                ok, payload = await asyncio.wait_for(future, self.timeout_s)
            except TimeoutError:
                self._recycle()
                raise ParseError(
                    TIMEOUT,
                    f"parsing took longer than {self.timeout_s:.0f}s; the file may be malformed "
                    "or too complex — simplify or split it and upload again",
                ) from None
            except BrokenProcessPool:
                self._recycle()
                raise ParseError(
                    RESOURCES, "the parser process died on this file (memory or crash limit)"
                ) from None
        if ok:
            return msgspec.msgpack.decode(payload, type=ParsedText)
        code, message = msgspec.msgpack.decode(payload, type=tuple[str, str])
        raise ParseError(code, message)

    def _recycle(self) -> None:
        """Kill the workers (one may be stuck) and start a fresh pool."""
        old = self._pool
        self._pool = self._new_pool()
        for process in list(getattr(old, "_processes", {}).values()):
            process.kill()
        old.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)
