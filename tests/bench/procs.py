"""Server processes for benchmarks: start, wait until ready, read CPU and memory, stop.

A benchmarked server is always its own process (never a thread of the bench),
so the load generator does not share its GIL or event loop, as users run it.
CPU time and memory come from ``/proc/<pid>/stat`` and ``/proc/<pid>/status``
summed over the process and its descendants.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.bench.httpload import connect

__all__ = ["ServerProcess", "free_port", "raise_fd_limit", "spawn", "start_server"]

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit (children inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for current in found:
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError):
                    children = Path(f"/proc/{current}/task/{task}/children").read_text()
                    found.extend(int(c) for c in children.split())
    return found


def _cpu_s(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the parenthesised command name; utime and stime are 14 and 15.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class ServerProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    host: str = "127.0.0.1"
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server and its children so far."""
        return sum(_cpu_s(pid) for pid in _descendants(self.pid))

    def rss_kb(self) -> int:
        return sum(_status_kb(pid, "VmRSS") for pid in _descendants(self.pid))

    def peak_rss_kb(self) -> int:
        """VmHWM: the high-water mark of resident memory."""
        return sum(_status_kb(pid, "VmHWM") for pid in _descendants(self.pid))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_ready(self, path: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                conn = await connect(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.2)
                continue
            try:
                response = await asyncio.wait_for(conn.request("GET", path), 5)
                if response.status == 200:
                    return
            except (OSError, TimeoutError):
                pass
            finally:
                conn.close()
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:g} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout_s)
        if self._log is not None:
            self._log.close()


def spawn(
    name: str, argv: Sequence[str], *, port: int, env: Mapping[str, str], cwd: Path
) -> ServerProcess:
    """Start ``argv`` in its own session, output to ``<cwd>/<name>.log``."""
    log_path = cwd / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return ServerProcess(name, port, process, log_path, _log=log)


async def start_server(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    cwd: Path,
    ready_path: str,
    timeout_s: float = 90.0,
) -> ServerProcess:
    """Start ``argv`` in its own session (so stop() ends its children too) and wait for it."""
    server = spawn(name, argv, port=port, env=env, cwd=cwd)
    try:
        await server.wait_ready(ready_path, timeout_s)
    except BaseException:
        server.stop()
        raise
    return server
