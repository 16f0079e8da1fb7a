"""The parser sandbox with real worker processes: a document's hang, blow-up or bug is its own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from services.parser.adapters import frames
from services.parser.adapters.sandbox import (
    ParserSandbox,
    SandboxUnavailableError,
    worker_environment,
)
from services.parser.core.errors import INTERNAL, PARSE_TIMEOUT, RESOURCE_LIMIT, ParseError
from tests.fixtures.sandbox_parent import start_time

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TEST_EXTRACTOR = "tests.fixtures.extractors:extract"
NORMAL = [
    ("kafka-basics.txt", "text/plain", "kafka"),
    ("sourdough.md", "text/markdown", "starter"),
    ("lighthouses.html", "text/html", "lighthouse"),
    ("photosynthesis.pdf", "application/pdf", "chlorophyll"),
    ("tea.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "tea"),
]


@asynccontextmanager
async def sandbox(workers: int = 1, **options: float) -> AsyncIterator[ParserSandbox]:
    """A started sandbox on the test extractor, closed afterwards."""
    box = ParserSandbox(
        workers,
        float(options.pop("timeout_s", 30.0)),
        int(options.pop("memory_mb", 1024)),
        cpu_s=options.pop("cpu_s", None),
        file_mb=int(options.pop("file_mb", 64)),
        extractor=TEST_EXTRACTOR,
    )
    await box.start()
    try:
        yield box
    finally:
        await box.close()


async def wait_until(condition: Callable[[], bool], limit_s: float = 30.0) -> None:
    """Poll `condition` until it holds (a bounded wait, not a speed check)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def parses(box: ParserSandbox) -> None:
    """The sandbox still parses a normal document."""
    parsed = await box.extract(b"the next document", "text/plain")
    assert parsed.text == "the next document"


async def test_a_hanging_document_costs_only_its_own_worker(tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    async with sandbox(3, timeout_s=8.0) as box:
        hang = asyncio.create_task(box.extract(str(started).encode(), "x-test/hang"))
        await wait_until(started.exists)
        hang_worker = set(box.worker_pids())
        await asyncio.sleep(3.0)  # the neighbour below starts well after, so it ends after
        neighbour = asyncio.create_task(box.extract(str(release).encode(), "x-test/wait"))
        normal = [
            asyncio.create_task(box.extract((EXAMPLES / name).read_bytes(), media_type))
            for name, media_type, _ in NORMAL
        ]

        with pytest.raises(ParseError) as timed_out:
            await hang
        assert timed_out.value.code == PARSE_TIMEOUT
        assert "longer than 8s" in timed_out.value.message
        assert not neighbour.done()  # in flight while its neighbour's worker was killed
        release.touch()
        assert (await neighbour).text == "released"
        for (name, _, word), task in zip(NORMAL, normal, strict=True):
            assert word in (await task).text.lower(), name
        await parses(box)
        await wait_until(lambda: len(box.worker_pids()) == 3)  # the replacement has started
        survivors = set(box.worker_pids())
        assert len(hang_worker - survivors) == 1  # exactly one worker was replaced


async def test_a_memory_bomb_ends_resource_limit_and_the_next_document_parses() -> None:
    async with sandbox(1, memory_mb=512) as box:
        before = box.worker_pids()
        with pytest.raises(ParseError) as bomb:
            await box.extract(b"", "x-test/memory")
        assert bomb.value.code == RESOURCE_LIMIT
        assert "512 MiB" in bomb.value.message
        await parses(box)
        assert box.worker_pids() != before  # replaced


async def test_cpu_time_beyond_the_limit_ends_parse_timeout() -> None:
    async with sandbox(1, cpu_s=1.0, timeout_s=120.0) as box:
        with pytest.raises(ParseError) as spun:
            await box.extract(b"", "x-test/cpu")
        assert spun.value.code == PARSE_TIMEOUT
        assert "CPU time" in spun.value.message
        await parses(box)


LOST_STATUS = "exit status 255"  # what asyncio reports for a child another waiter reaped


@pytest.mark.parametrize(
    ("behaviour", "code", "detail"),
    [
        ("raise", INTERNAL, "TypeError: Encoding objects of type TextStringObject"),
        ("exit", INTERNAL, "SystemExit: 3"),
        ("crash", RESOURCE_LIMIT, "SIGSEGV"),
        ("write", RESOURCE_LIMIT, "more than 4 MiB to a file"),
    ],
)
async def test_whatever_goes_wrong_in_a_worker_is_a_named_parse_error(
    behaviour: str, code: str, detail: str
) -> None:
    async with sandbox(1, file_mb=4) as box:
        with pytest.raises(ParseError) as failed:
            await box.extract(b"8", f"x-test/{behaviour}")
        assert failed.value.code == code
        # its status kept: the sandbox once SIGKILLed a worker that had already ended, and
        # Popen's poll before the signal reaped it, so asyncio reported "exit status 255"
        assert detail in failed.value.message and LOST_STATUS not in failed.value.message
        await parses(box)


async def test_a_worker_that_cannot_start_is_reported_with_its_exit_status() -> None:
    # The extractor cannot be imported: the worker exits 1 before it says Ready. Its status is
    # kept (not lost to a reap before a SIGKILL, as "exit status 255").
    box = ParserSandbox(1, 30.0, 1024, extractor="tests.fixtures.no_such_module:extract")
    try:
        with pytest.raises(SandboxUnavailableError) as failed:
            await box.start()
        assert "did not start" in str(failed.value)
        assert "exit status 1;" in str(failed.value)
    finally:
        await box.close()
    assert box.worker_pids() == []


async def test_a_str_subclass_in_the_result_comes_back_as_text() -> None:
    async with sandbox(1) as box:
        parsed = await box.extract(b"", "x-test/subclass")
        assert (parsed.text, parsed.title) == ("outline text", "a title")


async def test_stray_output_in_a_worker_does_not_corrupt_its_replies() -> None:
    async with sandbox(1) as box:
        before = box.worker_pids()
        assert (await box.extract(b"", "x-test/print")).text == "printed, still parsed"
        await parses(box)
        assert box.worker_pids() == before


async def test_workers_hold_no_secret_and_are_confined(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_JWT_SECRET", "s" * 40)
    monkeypatch.setenv("SLUICE_DATABASE_URL", "postgresql://user:password@db/sluice")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        async with sandbox(1, memory_mb=768, file_mb=16, cpu_s=20.0) as box:
            report = json.loads((await box.extract(str(port).encode(), "x-test/inspect")).text)

    environ = report["environ"]
    assert "SLUICE_JWT_SECRET" not in environ
    assert "SLUICE_DATABASE_URL" not in environ
    assert not [name for name in environ if name.startswith("SLUICE_")]
    assert report["no_new_privs"] == "1"
    assert int(report["cap_eff"], 16) == 0
    assert report["ppid"] == os.getpid()
    assert report["sid"] == report["pid"]  # its own session: a terminal's Ctrl-C misses it
    assert report["rlimit_as"] == [768 * 1024 * 1024] * 2
    assert report["rlimit_fsize"] == [16 * 1024 * 1024] * 2
    assert report["rlimit_cpu"][0] >= 20
    if box.network == "isolated":
        assert report["network"].startswith("refused")
    else:  # the kernel refused a namespace: the sandbox said why, and goes on
        assert str(box.network).startswith("shared: ")


async def test_close_stops_every_worker_and_reaps_it() -> None:
    async with sandbox(2) as box:
        pids = box.worker_pids()
        assert len(pids) == 2
    assert box.worker_pids() == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()  # gone, not even a zombie


def test_a_killed_parent_leaves_no_worker_behind() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.sandbox_parent"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        tree = [tuple(entry) for entry in json.loads(parent.stdout.readline())]
        assert len(tree) >= 2  # both workers were started
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    alive = tree
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [(pid, started) for pid, started in alive if start_time(pid) == started]
    assert alive == [], "processes outlived their SIGKILLed parent"


def test_a_worker_exits_when_its_parent_closes_the_pipe() -> None:
    worker = subprocess.Popen(
        [sys.executable, "-P", "-m", "services.parser.adapters.worker", "--parent",
         str(os.getpid()), "--extractor", TEST_EXTRACTOR, "--memory-mb", "1024",
         "--cpu-s", "10", "--file-mb", "8"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=worker_environment(),
    )  # fmt: skip
    try:
        assert worker.stdin is not None and worker.stdout is not None
        length = frames.HEADER.unpack(worker.stdout.read(frames.HEADER.size))[0]
        assert isinstance(frames.decode_reply(worker.stdout.read(length)), frames.Ready)
        worker.stdin.close()  # the parent's end of the pipe closes; the parent lives on
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
