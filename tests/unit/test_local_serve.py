"""infra/local/serve.py: a runner in the foreground, its log on stdout, stopped on SIGTERM."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from infra.local import serve

pytestmark = pytest.mark.unit


class FakeRunner:
    """An in-memory runner: 'runs' from start() until stop() or until `die()`."""

    def __init__(self, log_file: Path, *, running_pid: int | None = None) -> None:
        self.log_file = log_file
        self.running_pid = running_pid
        self.ready = threading.Event()
        self.events: list[str] = []
        self.fail_start: Exception | None = None

    def pid(self) -> int | None:
        return self.running_pid

    def start(self, detach: bool = False) -> int:
        self.events.append(f"start detach={detach}")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(b"broker says hello\n")
        self.running_pid = 4242
        return 4242

    def wait_ready(self, timeout: float = 60.0) -> None:
        self.events.append("wait_ready")
        if self.fail_start is not None:
            raise self.fail_start
        self.ready.set()

    def stop(self, timeout: float = 30.0) -> None:
        self.events.append("stop")
        self.running_pid = None


def _signal_when_ready(out: io.BytesIO, sig: signal.Signals) -> threading.Thread:
    """Send `sig` to this process once serve() said "ready" (its handler is installed then)."""

    def send() -> None:
        deadline = time.monotonic() + 10
        while b" ready" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), sig)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_runner_and_exits_zero(tmp_path: Path, sig: signal.Signals) -> None:
    runner = FakeRunner(tmp_path / "logs" / "kafka.log")
    out = io.BytesIO()
    before = signal.getsignal(sig)
    sender = _signal_when_ready(out, sig)

    assert serve.serve(runner, "kafka", out=out, poll=0.01) == 0

    sender.join()
    assert runner.events == ["start detach=False", "wait_ready", "stop"]
    text = out.getvalue().decode()
    assert "broker says hello" in text  # the runner's log reaches Tilt's pane
    assert "kafka ready" in text
    assert f"{sig.name} received: stopping kafka" in text
    assert signal.getsignal(sig) == before  # handlers restored


def test_only_new_log_lines_are_shown(tmp_path: Path) -> None:
    log = tmp_path / "kafka.log"
    log.write_bytes(b"an old run's line\n")
    runner = FakeRunner(log)
    out = io.BytesIO()
    sender = _signal_when_ready(out, signal.SIGTERM)
    serve.serve(runner, "kafka", out=out, poll=0.01)
    sender.join()
    assert "an old run's line" not in out.getvalue().decode()
    assert "broker says hello" in out.getvalue().decode()


def test_refuses_when_make_up_already_runs_it(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path / "postgres.log", running_pid=99)
    out = io.BytesIO()
    assert serve.serve(runner, "postgres", out=out) == 1
    assert runner.events == []
    assert "already runs (pid 99)" in out.getvalue().decode()
    assert "make down" in out.getvalue().decode()


def test_a_failed_start_is_reported_and_cleaned_up(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path / "kafka.log")
    runner.fail_start = TimeoutError("Kafka not ready after 120s")
    out = io.BytesIO()
    assert serve.serve(runner, "kafka", out=out) == 1
    assert runner.events[-1] == "stop"
    assert "kafka did not start: Kafka not ready after 120s" in out.getvalue().decode()


def test_a_process_that_dies_ends_the_resource_with_an_error(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path / "kafka.log")

    def die_soon() -> None:
        runner.ready.wait(10)
        runner.running_pid = None  # the broker crashed

    killer = threading.Thread(target=die_soon, daemon=True)
    killer.start()
    out = io.BytesIO()
    assert serve.serve(runner, "kafka", out=out, poll=0.01) == 1
    killer.join()
    assert "exited on its own" in out.getvalue().decode()


def test_runners_use_the_make_up_layout_and_ports(tmp_path: Path) -> None:
    env = {"SLUICE_RUN_DIR": str(tmp_path), "SLUICE_KAFKA_PORT": "19092"}
    kafka = serve.kafka_runner(env)
    assert (kafka.port, kafka.controller_port) == (19092, 19093)
    assert kafka.data_dir == tmp_path / "kafka"
    assert kafka.log_file == tmp_path / "logs" / "kafka.log"
    postgres = serve.postgres_runner({"SLUICE_RUN_DIR": str(tmp_path)})
    assert postgres.port == 5434
    assert postgres.data_dir == tmp_path / "postgres"


def test_cli_rejects_an_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        serve.main(["redis"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'redis'" in capsys.readouterr().err
