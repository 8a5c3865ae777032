"""Switchyard as a separate OS process, the way `make run` starts it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.server import free_port

__all__ = ["ServerProcess", "serve_process", "spawn_server"]

_READY = "Application startup complete"


@dataclass
class ServerProcess:
    url: str
    proc: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """``kill -9``: no shutdown, no cleanup, exactly what a crash leaves."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@contextmanager
def spawn_server(
    env: Mapping[str, str],
    *,
    port: int | None = None,
    args: Sequence[str] = (),
    output: list[str] | None = None,
    ready: int = 1,
    defaults: bool = False,
) -> Iterator[ServerProcess]:
    """Start ``switchyard serve [args]`` with extra env; yield it once it is ready.

    ``defaults``: drop every ``SWITCHYARD_*`` variable of this process first,
    so the server runs on its default settings plus ``env``.

    Readiness is uvicorn's own log line, printed after the lifespan compiled
    every graph (and, with workers, by each worker: the first one is enough to
    answer, ``ready=N`` waits for N of them); output is drained in a thread so
    the pipe never fills, into ``server.output`` (``output`` when given: every
    line the server wrote, as it writes them).

    The server runs in a process group of its own, killed whole at the end: a
    worker its supervisor left behind (a SIGTERM that arrived while uvicorn's
    supervisor was pinging a starting worker) would otherwise keep serving and
    hold the output pipe open.
    """
    port = port or free_port()
    inherited = {
        k: v for k, v in os.environ.items() if not defaults or not k.startswith("SWITCHYARD_")
    }
    full_env = {
        **inherited,
        **env,
        "SWITCHYARD_PORT": str(port),
        "SWITCHYARD_HOST": "127.0.0.1",
        "SWITCHYARD_LOG_LEVEL": "info",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    server = ServerProcess(
        url=f"http://127.0.0.1:{port}", proc=proc, output=[] if output is None else output
    )
    waiting = ready
    for line in proc.stdout:
        server.output.append(line)
        waiting -= _READY in line
        if waiting == 0:
            break
    else:
        proc.wait()
        proc.stdout.close()
        raise RuntimeError(f"server exited with {proc.returncode}:\n{''.join(server.output)}")
    drain = threading.Thread(target=lambda: server.output.extend(proc.stdout or ()), daemon=True)
    drain.start()
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the server is left
        drain.join(5)
        proc.stdout.close()


@contextmanager
def serve_process(env: Mapping[str, str], output: list[str] | None = None) -> Iterator[str]:
    """Start ``switchyard serve`` with extra env; yield its URL once it is ready."""
    with spawn_server(env, output=output) as server:
        yield server.url
