"""What the CLI draws on a terminal: a status line and a progress bar, on stderr.

Both draw only when their stream is a TTY, so piped or redirected output
never carries carriage returns or escape codes. A drawn line is redrawn in
place (carriage return + erase line) and cleared before anything else is
printed, so it never mixes with the command's real output.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import TextIO

__all__ = ["ProgressBar", "StatusLine"]

_ERASE = "\r\x1b[K"
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class StatusLine:
    """One line of status text, redrawn in place, with an optional spinner."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.enabled = stream.isatty()
        self._text = ""
        self._shown = False
        self._frame = 0
        self.paused = False  # while the output's last line is still being written

    def update(self, text: str) -> None:
        self._text = text
        self._draw()

    def _draw(self) -> None:
        if not self.enabled or self.paused or not self._text:
            return
        width = shutil.get_terminal_size((80, 24)).columns - 1
        line = f"{_SPINNER[self._frame % len(_SPINNER)]} {self._text}"[:width]
        self._stream.write(_ERASE + line)
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._stream.write(_ERASE)
            self._stream.flush()
            self._shown = False

    async def spin(self, interval_s: float = 0.1) -> None:
        """Animate until cancelled (the pause is the animation's frame rate)."""
        if not self.enabled:
            return
        while True:
            await asyncio.sleep(interval_s)
            self._frame += 1
            self._draw()


class ProgressBar:
    """``[#####-----] 5/10  ok 4  error 1``, redrawn on every update."""

    def __init__(self, stream: TextIO, total: int, *, width: int = 30) -> None:
        self._stream = stream
        self.enabled = stream.isatty()
        self._total = total
        self._width = width

    def update(self, done: int, failed: int) -> None:
        if not self.enabled:
            return
        filled = self._width * done // self._total if self._total else self._width
        bar = "#" * filled + "-" * (self._width - filled)
        counts = f"{done}/{self._total}  ok {done - failed}  error {failed}"
        self._stream.write(f"{_ERASE}[{bar}] {counts}")
        self._stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self._stream.write("\n")
            self._stream.flush()
