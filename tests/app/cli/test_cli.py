"""The ``switchyard`` command, run as a subprocess against a real server."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import make_settings
from tests.support.server import RunningServer, free_port, run_server

ROOT = Path(__file__).resolve().parents[3]


def switchyard(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def with_tty_stderr(*args: str) -> tuple[str, str, int]:
    """Run with stderr on a pseudo-terminal; returns (stdout, terminal output, exit code)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    stdout, _ = process.communicate(timeout=120)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    return stdout.decode(), drawn.decode(errors="replace"), process.returncode


def results(text: str) -> list[dict[str, Any]]:
    return sorted((json.loads(line) for line in text.splitlines()), key=lambda r: r["index"])


def test_graphs_when_server_runs_then_each_graph_listed_with_status(server: RunningServer) -> None:
    done = switchyard("graphs", env={"SWITCHYARD_URL": server.url})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["GRAPH", "STATUS", "DESCRIPTION"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert {"chat", "steps", "nested", "approval", "slow", "failing"} <= set(rows)
    assert set(rows.values()) == {"ok"}
    assert any(line.startswith("steps") and "append to a list" in line for line in lines)


def test_graphs_when_a_graph_failed_to_load_then_listed_failed_with_reason(
    tmp_path: Path,
) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('cannot build this one')\n")
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"broken": "./broken.py:build"}}))
    settings = make_settings(tmp_path, graphs=config, builtins=False, skip_broken=True)
    with run_server(settings) as server:
        done = switchyard("graphs", "--url", server.url)
    assert done.returncode == 0, done.stderr
    broken = next(line for line in done.stdout.splitlines() if line.startswith("broken"))
    assert broken.split()[1] == "failed"
    assert "cannot build this one" in broken


def test_run_when_steps_then_custom_events_and_final_state(server: RunningServer) -> None:
    done = switchyard("run", "steps", "hello", "--url", server.url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == '[custom] {"progress":"two"}'
    assert lines[1].startswith("── success · run ")
    assert 'steps: ["one","two","three"]' in lines
    assert 'topic: "hello"' in lines
    # stderr is not a terminal here: no status line, no escape codes.
    assert done.stderr == ""


def test_run_when_chat_on_a_thread_then_tokens_stream_and_conversation_grows(
    server: RunningServer,
) -> None:
    thread = str(uuid.uuid4())
    first = switchyard("run", "chat", "hello there", "--thread", thread, "--url", server.url)
    second = switchyard("run", "chat", "and again", "--thread", thread, "--url", server.url)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    # Tokens come first, on their own line, before the summary.
    assert first.stdout.splitlines()[0] == "[offline] You said: hello there"
    assert second.stdout.splitlines()[0] == "[offline] You said: and again"
    assert f"thread {thread}" in second.stdout
    assert 'messages: 4 messages; last (ai): "[offline] You said: and again"' in second.stdout


def test_run_when_auto_then_route_decision_printed_before_tokens(server: RunningServer) -> None:
    done = switchyard("run", "auto", "hello there", "--url", server.url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("→ route: chat (source ")
    assert lines[1] == "[offline] You said: hello there"


def test_run_when_mode_given_then_those_events_printed(server: RunningServer) -> None:
    done = switchyard("run", "steps", "x", "--mode", "debug", "--url", server.url)
    assert done.returncode == 0, done.stderr
    assert sum(line.startswith("[debug] ") for line in done.stdout.splitlines()) >= 6
    assert "[custom]" not in done.stdout


def test_run_when_graph_fails_then_error_on_stderr_and_exit_1(server: RunningServer) -> None:
    done = switchyard("run", "failing", '{"value": 1}', "--url", server.url)
    assert done.returncode == 1
    assert "── error · run " in done.stdout
    assert "boom: the failing graph always fails" in done.stderr


def test_run_when_stderr_is_a_terminal_then_node_progress_drawn_there(
    server: RunningServer,
) -> None:
    stdout, drawn, code = with_tty_stderr("run", "steps", "hi", "--url", server.url)
    assert code == 0
    assert "done: one, two, three" in drawn
    assert "\x1b[K" in drawn
    assert "\x1b" not in stdout


def test_run_when_assistant_unknown_then_message_and_exit_2(server: RunningServer) -> None:
    done = switchyard("run", "no-such-graph", "hi", "--url", server.url)
    assert done.returncode == 2
    assert "404" in done.stderr
    assert "no-such-graph" in done.stderr


def test_run_when_no_server_then_says_how_to_start_one() -> None:
    done = switchyard("run", "chat", "hi", "--url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 2
    assert "cannot reach Switchyard" in done.stderr
    assert "switchyard serve" in done.stderr


def test_batch_when_items_mixed_then_one_json_result_per_item(
    server: RunningServer, tmp_path: Path
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(
        '"first"\n'
        '{"topic": "second"}\n'
        "\n"
        '{"input": {"topic": "third"}, "metadata": {"source": "cli-test"}}\n'
        "not json\n"
        '{"input": {"bogus": 1}}\n'
    )
    done = switchyard("batch", "steps", str(items), "--concurrency", "2", "--url", server.url)
    assert done.returncode == 1  # two items failed
    found = results(done.stdout)
    assert [r["index"] for r in found] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in found] == ["success"] * 3 + ["error"] * 2
    assert [r["output"]["topic"] for r in found[:3]] == ["first", "second", "third"]
    assert all(r["output"]["steps"] == ["one", "two", "three"] for r in found[:3])
    assert all(isinstance(r["run_id"], str) for r in found[:3])
    assert found[3]["error"]["error"] == "InvalidItem"
    assert "bogus" in found[4]["error"]["message"]


def test_batch_when_graph_fails_then_error_results_and_out_file(
    server: RunningServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    done = switchyard(
        "batch", "failing", "-", "--out", str(out), "--url", server.url, stdin='{"value": 1}\n' * 3
    )
    assert done.returncode == 1
    assert done.stdout == ""
    found = results(out.read_text())
    assert [r["status"] for r in found] == ["error"] * 3
    assert {r["error"]["message"] for r in found} == {"boom: the failing graph always fails"}


def test_batch_when_stderr_is_a_terminal_then_progress_bar_reaches_total(
    server: RunningServer, tmp_path: Path
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(f'"item {i}"\n' for i in range(5)))
    stdout, drawn, code = with_tty_stderr("batch", "steps", str(items), "--url", server.url)
    assert code == 0
    assert len(stdout.splitlines()) == 5
    assert "0/5" in drawn
    assert f"[{'#' * 30}] 5/5  ok 5  error 0" in drawn


def test_serve_when_workers_without_shared_state_then_refuses_saying_what_to_set(
    tmp_path: Path,
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SWITCHYARD_") or key.startswith("SWITCHYARD_TEST_")
    }
    env["SWITCHYARD_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "SWITCHYARD_STORAGE_BACKEND=postgres" in done.stderr
    assert "SWITCHYARD_REDIS_URL" in done.stderr
    assert "--workers 1" in done.stderr
