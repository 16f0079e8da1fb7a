"""What the local Kafka and Postgres runners share: finding, waiting for, stopping the server."""

import signal
import subprocess
import time
from pathlib import Path

from infra.local import process


class LocalServer:
    """A server process run on this machine, its files under `data_dir`, its log in `log_file`.

    A subclass names the server (`name`), the text its command line must contain (`marker`),
    how it shuts down cleanly (`stop_signal`), where it records its pid (`_recorded_pid`) and
    when it is ready (`_ready`); it starts it with `start`.
    """

    name = "server"
    marker = ""
    stop_signal = signal.SIGTERM
    poll_s = 0.1

    def __init__(self, data_dir: Path, log_file: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.log_file = log_file.resolve()
        self._proc: subprocess.Popen[bytes] | None = None
        self._detached = False

    def _recorded_pid(self) -> int | None:
        """The pid the server (or `start`) recorded, or None."""
        raise NotImplementedError

    def _ready(self) -> bool:
        """Whether the running server serves requests yet."""
        raise NotImplementedError

    def _forget(self) -> None:
        """Drop what records a server that no longer runs."""

    def start(self, detach: bool = False) -> int:
        """Start the server (no-op if it runs); return its pid."""
        raise NotImplementedError

    def pid(self) -> int | None:
        """The running server's pid, or None."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        pid = self._recorded_pid()
        if pid is None:
            return None
        alive = process.is_alive(pid, self._proc) and self.marker in process.cmdline(pid)
        return pid if alive else None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the server is ready; raise if it exits first or takes longer."""
        deadline = time.monotonic() + timeout
        while True:
            if self.pid() is None:
                raise RuntimeError(
                    f"{self.name} exited while starting:\n{process.tail(self.log_file)}"
                )
            if self._ready():
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.name} not ready after {timeout:.0f}s:\n{process.tail(self.log_file)}"
                )
            time.sleep(self.poll_s)

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the server down cleanly (`stop_signal`), SIGKILL if it takes over `timeout`."""
        pid = self.pid()
        if pid is not None:
            process.terminate(pid, sig=self.stop_signal, timeout=timeout, proc=self._proc)
        self._forget()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the server and its children, as a crash would (for fault tests)."""
        pid = self.pid()
        if pid is not None:
            process.signal_group(pid, signal.SIGKILL)
            process.wait_dead(pid, 10.0, self._proc)
        self._forget()
        self._proc = None

    def restart(self, timeout: float = 60.0) -> int:
        """Stop (if running), start again as before, and wait until ready; return the new pid."""
        self.stop()
        pid = self.start(detach=self._detached)
        self.wait_ready(timeout)
        return pid
