"""The React fixture app (``tests/fixtures/react``), built at test time.

``npm install`` fetches its packages from the npm registry into a cache under
``.venv/`` (``.venv/npm-cache``; the build itself in ``.venv/react-app``),
both gitignored, so a second run installs nothing and a rebuild happens
only when the fixture's files change. Nothing is downloaded by the browser:
the tests serve the built files themselves.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

__all__ = ["FIXTURE", "build", "skip_reason"]

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "react"
WORK = REPO / ".venv" / "react-app"
NPM_CACHE = REPO / ".venv" / "npm-cache"
_SOURCES = ("package.json", "vite.config.js", "index.html", "src")


def skip_reason() -> str | None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        return "REACT BROWSER TESTS SKIPPED: node and npm are needed to build the fixture app"
    return None


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        path = root / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                digest.update(str(file.relative_to(root)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def _run(*command: str) -> None:
    done = subprocess.run(command, cwd=WORK, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def build() -> Path:
    """The built app's ``dist`` directory (index.html + assets)."""
    WORK.mkdir(parents=True, exist_ok=True)
    wanted = _digest(FIXTURE)
    stamp = WORK / ".built"
    dist = WORK / "dist"
    if stamp.exists() and stamp.read_text() == wanted and (dist / "index.html").exists():
        return dist
    for name in _SOURCES:
        source, target = FIXTURE / name, WORK / name
        if source.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    installed = WORK / "node_modules" / ".package.json"
    package = (FIXTURE / "package.json").read_text()
    if not installed.exists() or installed.read_text() != package:
        _run(
            "npm", "install", "--no-audit", "--no-fund", "--prefer-offline",
            "--cache", str(NPM_CACHE),
        )  # fmt: skip
        installed.write_text(package)
    _run(str(WORK / "node_modules" / ".bin" / "vite"), "build")
    stamp.write_text(wanted)
    return dist
