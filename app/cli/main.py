"""The ``switchyard`` command.

    switchyard serve [--workers N]        run the server (what ``make run`` calls)
    switchyard graphs                     the graphs a running server serves, with status
    switchyard run ASSISTANT MESSAGE      stream one run to the terminal
    switchyard batch ASSISTANT FILE.jsonl run every line, results as JSON lines

Every command but ``serve`` is a client of a running server, over its HTTP
API, at ``--url`` (default: ``SWITCHYARD_URL`` or http://127.0.0.1:8123).
``graphs`` asks the server rather than loading the registry here, because
what matters is what that server loaded (its config, its failures), and
loading would import and compile user code in the CLI's process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TextIO

from app.cli.client import ClientError, SwitchyardClient, default_url
from app.schemas import STREAM_MODES
from app.settings import Settings

__all__ = ["main"]

_DESCRIPTION_CHARS = 70


def workers_problem(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` processes cannot share ``settings``' state, or None if they can."""
    if workers == 1:
        return None
    missing = []
    if settings.storage.backend != "postgres":
        missing.append("SWITCHYARD_STORAGE_BACKEND=postgres and SWITCHYARD_POSTGRES_URL")
    if settings.redis.url is None:
        missing.append("SWITCHYARD_REDIS_URL")
    if not missing:
        return None
    return (
        f"--workers {workers} needs state that every process shares: threads, runs and"
        f" checkpoints in Postgres, the event log and signals in Redis. Set"
        f" {' and '.join(missing)}, or serve with --workers 1."
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.observability.logging import log_config
    from app.observability.metrics import multiprocess_metrics

    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = Settings(**overrides)
    problem = workers_problem(settings, args.workers)
    if problem is not None:
        print(f"switchyard serve: {problem}", file=sys.stderr)
        return 2
    logs = settings.logs
    logging = log_config(fmt=logs.format, level=settings.log_level, access_log=logs.access_log)
    if args.workers > 1:
        # Each worker process builds its own app from the environment.
        for key, value in overrides.items():
            os.environ[f"SWITCHYARD_{key.upper()}"] = str(value)
        with multiprocess_metrics():
            uvicorn.run(
                "app.main:create_app",
                factory=True,
                workers=args.workers,
                # A worker compiling every graph at startup may not answer the
                # supervisor's 5 s ping on a busy machine; it is starting, not hung.
                timeout_worker_healthcheck=60,
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level,
                log_config=logging,
                access_log=logs.access_log,
                loop="auto",
                http="auto",
            )
        return 0
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # JSON lines with ids (or the human format), secrets redacted.
        log_config=logging,
        access_log=logs.access_log,
        # uvloop/httptools when installed (uvicorn[standard]); plain asyncio otherwise.
        loop="auto",
        http="auto",
    )
    return 0


async def _graphs(args: argparse.Namespace) -> int:
    async with SwitchyardClient(args.url) as client:
        info = await client.info()
        descriptions = {
            a["graph_id"]: a.get("description") or "" for a in await client.assistants()
        }
    rows = [("GRAPH", "STATUS", "DESCRIPTION")]
    for graph_id, graph in info.get("graphs", {}).items():
        status = graph.get("status", "?")
        about = graph.get("error", "") if status == "failed" else descriptions.get(graph_id, "")
        if len(about) > _DESCRIPTION_CHARS:
            about = about[: _DESCRIPTION_CHARS - 1] + "…"
        rows.append((graph_id, status, about))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for graph_id, status, about in rows:
        print(f"{graph_id:<{widths[0]}}  {status:<{widths[1]}}  {about}".rstrip())
    return 0


async def _run(args: argparse.Namespace) -> int:
    from app.cli.run import DEFAULT_MODES, input_for, stream_run

    modes = list(dict.fromkeys([*args.mode, "values"])) if args.mode else list(DEFAULT_MODES)
    async with SwitchyardClient(args.url) as client:
        schema = await client.input_schema(args.assistant)
        body: dict[str, Any] = {
            "assistant_id": args.assistant,
            "input": input_for(schema, args.message, args.assistant),
            "stream_mode": modes,
        }
        if args.thread:
            body["if_not_exists"] = "create"
        return await stream_run(client, body, thread_id=args.thread, out=sys.stdout, err=sys.stderr)


def _batch(args: argparse.Namespace) -> int:
    from app.cli.batch import run_batch

    if args.file == "-":
        lines = sys.stdin.read().splitlines()
    else:
        lines = Path(args.file).read_text(encoding="utf-8").splitlines()

    async def batch(out: TextIO) -> int:
        async with SwitchyardClient(args.url) as client:
            return await run_batch(
                client, args.assistant, lines, concurrency=args.concurrency, out=out, err=sys.stderr
            )

    if not args.out:
        return asyncio.run(batch(sys.stdout))
    with Path(args.out).open("w", encoding="utf-8") as out:
        return asyncio.run(batch(out))


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchyard",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="bind address (default: SWITCHYARD_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: SWITCHYARD_PORT or 8123)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes on the one port (more than 1 needs Postgres storage and Redis)",
    )
    serve.set_defaults(handler=_serve)

    client = argparse.ArgumentParser(add_help=False)
    client.add_argument(
        "--url", default=default_url(), help="the server (default: SWITCHYARD_URL or %(default)s)"
    )

    graphs = commands.add_parser("graphs", parents=[client], help="list graphs with status")
    graphs.set_defaults(handler=_graphs)

    run = commands.add_parser("run", parents=[client], help="stream one run to the terminal")
    run.add_argument("assistant", help="assistant id or graph id, e.g. chat")
    run.add_argument("message", help="text for the graph, or its input as a JSON object")
    run.add_argument("--thread", help="run on this thread (created if missing)")
    run.add_argument(
        "--mode",
        action="append",
        default=[],
        choices=sorted(STREAM_MODES),
        help="stream mode, repeatable (default: messages-tuple custom updates values)",
    )
    run.set_defaults(handler=_run)

    batch = commands.add_parser("batch", parents=[client], help="run a JSONL file of items")
    batch.add_argument("assistant", help="assistant id or graph id")
    batch.add_argument("file", help="JSON lines, one item each ('-' reads stdin)")
    batch.add_argument("--out", help="write results here instead of stdout")
    batch.add_argument(
        "--concurrency", type=_positive, default=8, help="runs at once (default: %(default)s)"
    )
    batch.set_defaults(handler=_batch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int | Coroutine[Any, Any, int]] = args.handler
    try:
        result = handler(args)
        return result if isinstance(result, int) else asyncio.run(result)
    except (ClientError, OSError) as exc:
        print(f"switchyard: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
