"""Switchyard as a separate OS process, the way `make run` starts it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from tests.support.server import free_port

__all__ = ["serve_process"]

_READY = "Application startup complete"


@contextmanager
def serve_process(env: Mapping[str, str], output: list[str] | None = None) -> Iterator[str]:
    """Start ``switchyard serve`` with extra env; yield its URL once it is ready.

    Readiness is uvicorn's own log line, printed after the lifespan compiled
    every graph; output is drained in a thread so the pipe never fills, into
    ``output`` when given (every line the server wrote, as it writes them).
    """
    port = free_port()
    full_env = {
        **os.environ,
        **env,
        "SWITCHYARD_PORT": str(port),
        "SWITCHYARD_HOST": "127.0.0.1",
        "SWITCHYARD_LOG_LEVEL": "info",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output = [] if output is None else output
    for line in proc.stdout:
        output.append(line)
        if _READY in line:
            break
    else:
        proc.wait()
        raise RuntimeError(f"server exited with {proc.returncode}:\n{''.join(output)}")
    drain = threading.Thread(target=lambda: output.extend(proc.stdout or ()), daemon=True)
    drain.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drain.join(5)
        proc.stdout.close()
