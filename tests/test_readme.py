"""Every example in README.md, run as written against `make run`'s server.

The server is ``switchyard serve`` in its own process with default settings
(no ``SWITCHYARD_*`` variable but a free port and a temporary data dir, in
the repository root as ``make run`` starts it). README marks its examples with
HTML comments, which GitHub does not show:

    <!-- example: NAME -->
    ```sh | python | js          the example, exactly as a reader copies it
    ```
    ```json | sse | text         optional: the output it documents
    ```
    <!-- /example -->

and code a reader cannot run against `make run` (it needs Postgres, a
configured API key, ...) with ``<!-- not-run: why -->`` on the line before
its fence. Runnable code outside both fails this module, so a new example
is tested or says why not.

How each kind runs, from the repository root, with ``http://127.0.0.1:8123``
replaced by the server's URL (the only edit; ``SWITCHYARD_URL`` points the CLI
there too):

* ``sh``: ``bash`` with ``.venv/bin`` first on ``PATH``;
* ``python``: a script file run by this venv's interpreter;
* ``js``: an ES module run by Node with ``EventSource`` enabled, after a
  prelude that resolves relative URLs against the server, as the page the
  README's browser code runs on would (skipped without ``node``).

Documented output is compared by kind: ``json`` equals the last JSON value
printed, where a documented ``"…"`` matches any value; ``sse`` lists event names that
must arrive in that order; ``text`` lines must appear in order, ``…`` in a
line standing for anything. Without an output block, the example must exit 0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.process import spawn_server

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
WRITTEN_URL = "http://127.0.0.1:8123"
RUNNABLE = {"sh", "bash", "python", "js", "javascript"}
ELLIPSIS = "…"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
_EXAMPLE = re.compile(r"<!-- example: (\S+) -->\n(.*?)<!-- /example -->", re.DOTALL)
_NOT_RUN = re.compile(r"<!-- not-run: .+ -->\n$")

_JS_PRELUDE = """\
// What a page served by the server gives the README's browser code:
// relative URLs resolve against it.
const base = process.env.SWITCHYARD_URL;
const nativeFetch = globalThis.fetch;
globalThis.fetch = (url, init) => nativeFetch(new URL(url, base), init);
const NativeEventSource = globalThis.EventSource;
globalThis.EventSource = class extends NativeEventSource {
  constructor(url, init) { super(new URL(url, base), init); }
};
"""


@dataclass(frozen=True)
class Example:
    name: str
    language: str
    code: str
    output_kind: str | None
    output: str | None


def read_examples(text: str) -> list[Example]:
    examples = []
    for name, body in _EXAMPLE.findall(text):
        fences = _FENCE.findall(body)
        assert 1 <= len(fences) <= 2, f"example {name!r}: expected code and at most one output"
        (language, code), *output = fences
        assert language in RUNNABLE, f"example {name!r}: cannot run {language!r}"
        kind, documented = output[0] if output else (None, None)
        examples.append(Example(name, language, code, kind, documented))
    return examples


def unmarked_code(text: str) -> list[str]:
    """Runnable fences that are neither an example nor marked not-run."""
    examples = [m.span() for m in _EXAMPLE.finditer(text)]
    found = []
    for fence in _FENCE.finditer(text):
        if fence.group(1) not in RUNNABLE:
            continue
        if any(start <= fence.start() < end for start, end in examples):
            continue
        if _NOT_RUN.search(text[: fence.start()]):
            continue
        found.append(fence.group(0).splitlines()[1] if "\n" in fence.group(0) else fence.group(0))
    return found


EXAMPLES = read_examples(README.read_text(encoding="utf-8"))


# -- comparing outputs ----------------------------------------------------------


def matches(documented: Any, actual: Any) -> bool:
    """Equality, where a documented "…" stands for any value."""
    if documented == ELLIPSIS:
        return True
    if isinstance(documented, dict) and isinstance(actual, dict):
        return documented.keys() == actual.keys() and all(
            matches(documented[k], actual[k]) for k in documented
        )
    if isinstance(documented, list) and isinstance(actual, list):
        return len(documented) == len(actual) and all(map(matches, documented, actual))
    return bool(documented == actual)


def json_values(text: str) -> list[Any]:
    """Every JSON value printed, in order (curl prints bodies without newlines)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while (at := _next_value(text, at)) < len(text):
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


def _next_value(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def line_matches(documented: str, actual: str) -> bool:
    at = 0
    for part in documented.split(ELLIPSIS):
        found = actual.find(part, at)
        if found < 0 or (at == 0 and not documented.startswith(ELLIPSIS) and found != 0):
            return False
        at = found + len(part)
    return documented.endswith(ELLIPSIS) or at == len(actual)


def in_order(documented: list[str], actual: list[str], match: Any) -> str | None:
    """None if each documented line matches an actual one, in order; else the first that
    does not."""
    rest = iter(actual)
    for line in documented:
        if not any(match(line, candidate) for candidate in rest):
            return line
    return None


def check_output(example: Example, stdout: str) -> None:
    documented = example.output or ""
    if example.output_kind == "json":
        values = json_values(stdout)
        assert values, f"printed no JSON:\n{stdout}"
        assert matches(json.loads(documented), values[-1]), f"printed:\n{stdout}"
    elif example.output_kind == "sse":
        names = [line for line in documented.splitlines() if line.startswith("event:")]
        sent = [line for line in stdout.splitlines() if line.startswith("event:")]
        missing = in_order(names, sent, str.__eq__)
        assert missing is None, f"{missing!r} not in order in:\n{stdout}"
    elif example.output_kind == "text":
        lines = [line for line in documented.splitlines() if line.strip(f" {ELLIPSIS}")]
        missing = in_order(lines, stdout.splitlines(), line_matches)
        assert missing is None, f"{missing!r} not printed (in order):\n{stdout}"
    else:
        raise AssertionError(f"example {example.name!r}: unknown output kind {example.output_kind}")


# -- running --------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``switchyard serve`` as ``make run`` starts it: default settings, from the repo root."""
    data_dir = tmp_path_factory.mktemp("readme") / "data"
    with spawn_server({"SWITCHYARD_DATA_DIR": str(data_dir)}, defaults=True) as server:
        yield server.url


def run_example(example: Example, url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    code = example.code.replace(WRITTEN_URL, url)
    env = {
        **os.environ,
        "SWITCHYARD_URL": url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if example.language in ("sh", "bash"):
        command = ["bash", "-c", code]
    elif example.language == "python":
        script = workdir / f"{example.name}.py"
        script.write_text(code, encoding="utf-8")
        command = [sys.executable, str(script)]
    else:
        node = shutil.which("node")
        if node is None:
            pytest.skip("node is not installed: the browser example cannot run")
        script = workdir / f"{example.name}.mjs"
        script.write_text(_JS_PRELUDE + code, encoding="utf-8")
        command = [node, "--experimental-eventsource", "--no-warnings", str(script)]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_readme_when_parsed_then_examples_found_and_all_code_marked() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(EXAMPLES) >= 9  # the parser still finds them
    assert len({e.name for e in EXAMPLES}) == len(EXAMPLES), "example names must be unique"
    assert unmarked_code(text) == [], "mark each as <!-- example: ... --> or <!-- not-run: why -->"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_readme_example_when_run_as_written_then_output_as_documented(
    example: Example, server_url: str, tmp_path: Path
) -> None:
    done = run_example(example, server_url, tmp_path)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    if example.output_kind is not None:
        check_output(example, done.stdout)
