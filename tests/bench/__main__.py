"""``make bench`` (``python -m tests.bench``) and ``make bench-peers`` (``--peers``).

Options: ``--quick`` (one repeat, a quarter of the requests, 500 idle
streams: a smoke run), ``--repeats N``, ``--scale X`` (multiply request
counts), ``--idle-streams N``. See ``tests/bench/suite.py`` for what is
measured and ``tests/bench/peers/`` for the peer servers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import uvloop

from tests.bench.suite import Options, run_bench


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: small counts")
    parser.add_argument("--repeats", type=int, help="repeats per row (default 3)")
    parser.add_argument("--scale", type=float, help="multiply every request count")
    parser.add_argument("--idle-streams", type=int, help="idle SSE streams (default 5000)")
    parser.add_argument(
        "--peers", action="store_true", help="Switchyard vs langgraph dev/LangServe"
    )
    parser.add_argument(
        "--observability",
        action="store_true",
        help="only the metrics + JSON logs on vs off row",
    )
    parser.add_argument(
        "--peers-venv", type=Path, default=Path(".bench-peers-venv"), help="venv with the peers"
    )
    args = parser.parse_args(argv)
    options = Options(repeats=1, scale=0.25, idle_streams=500) if args.quick else Options()
    if args.repeats is not None:
        options.repeats = args.repeats
    if args.scale is not None:
        options.scale = args.scale
    if args.idle_streams is not None:
        options.idle_streams = args.idle_streams
    if args.observability:
        from tests.bench.suite import run_observability_only

        uvloop.run(run_observability_only(options))
    elif args.peers:
        from tests.bench.peers.suite import run_peers

        uvloop.run(run_peers(args.peers_venv.resolve(), scale=options.scale))
    else:
        uvloop.run(run_bench(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
