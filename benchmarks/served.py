"""The app in a subprocess on loopback, for the benchmarks that drive it over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def connect(url: str, server: subprocess.Popen, started: float, timeout: float = 300):
    """A gradio_client ``Client`` of ``url`` once the app answers; exits if it dies or is slow."""
    from gradio_client import Client

    while True:
        if server.poll() is not None:
            raise SystemExit("the app exited during startup")
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"the app did not start within {timeout:.0f} s")
        try:
            return Client(url, verbose=False)
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)


def start(cwd: Path, env: dict, **popen) -> subprocess.Popen:
    """``python app.py`` in ``cwd``."""
    return subprocess.Popen([sys.executable, "app.py"], cwd=cwd, env=env, **popen)


class PeakRSS:
    """The peak resident memory of process ``pid`` in MB, sampled every 0.2 s by a daemon thread."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
