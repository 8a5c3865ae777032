"""Structured logs: one JSON object per line, with the ids of what is happening.

Ids travel in one ``ContextVar`` (``log_context``): the HTTP middleware binds
``request_id`` (and ``trace_id`` when the request carries one), the run
executor binds ``run_id``, ``thread_id`` and ``assistant_id``. asyncio copies
context into every task a run starts, and LangGraph runs each node in such a
task (sync nodes in a thread with a copied context), so a line logged from
inside a graph node carries the run's ids with no help from the node.

Secrets never reach the output: every line (message, exception text, access
line) passes ``redact``, which blanks query values of token-like keys
(``?stream_token=``, ``api_key=``...), ``Authorization``-style header values,
bearer tokens and OpenAI-style keys.

``log_config`` is the ``logging.dictConfig`` that ``switchyard serve`` hands
to uvicorn: JSON or the human text format, and uvicorn's access line (or
none). Logging is configured per process by the CLI, never by ``create_app``:
tests build many apps in one process and keep pytest's own capture.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

import orjson

__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "bind",
    "current",
    "log_config",
    "log_context",
    "redact",
    "reset",
]

_EMPTY: Mapping[str, str] = {}
_context: ContextVar[Mapping[str, str]] = ContextVar("switchyard_log_context", default=_EMPTY)

# Field order in every JSON line after the fixed ones.
ID_FIELDS = ("request_id", "run_id", "thread_id", "assistant_id", "trace_id", "span_id")


def current() -> Mapping[str, str]:
    """The ids bound in this context (read-only)."""
    return _context.get()


def bind(**fields: str | None) -> Token[Mapping[str, str]]:
    """Add ids to this context (None values are skipped); undo with ``reset``."""
    merged = dict(_context.get())
    merged.update({k: v for k, v in fields.items() if v is not None})
    return _context.set(merged)


def reset(token: Token[Mapping[str, str]]) -> None:
    _context.reset(token)


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    token = bind(**fields)
    try:
        yield
    finally:
        reset(token)


# -- redaction ---------------------------------------------------------------

_SECRET_KEYS = (
    r"stream_token|access_token|refresh_token|id_token|token|api[_-]?key|apikey|key|"
    r"secret|client_secret|password|passwd|signature|sig|auth|authorization"
)
# key=value in a query string or free text (the key must start a word).
_QUERY = re.compile(rf"(?i)((?:^|[?&;\s,(])(?:{_SECRET_KEYS})=)[^&\s\"'#,)]*")
_HEADER = re.compile(
    r"(?i)((?:authorization|proxy-authorization|x-api-key|api-key|cookie|set-cookie)"
    r"[\"']?\s*[:=,]\s*[\"']?)(?:(?:bearer|basic|token)\s+)?[^\s\"',;}\]]+"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}")
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
_TRIGGERS = re.compile(r"(?i)=|authorization|api-key|cookie|bearer|sk-")
REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``[REDACTED]``."""
    if not _TRIGGERS.search(text):  # most lines: one scan, no substitution
        return text
    text = _QUERY.sub(rf"\g<1>{REDACTED}", text)
    text = _HEADER.sub(rf"\g<1>{REDACTED}", text)
    text = _BEARER.sub(rf"\g<1> {REDACTED}", text)
    return _OPENAI_KEY.sub(f"sk-{REDACTED}", text)


# -- formatters --------------------------------------------------------------


# The last second formatted: lines come many per second (one per request).
_second: tuple[int, str] = (-1, "")


def _iso(created: float) -> str:
    global _second
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    if _second[0] != seconds:  # a tuple swap: a racing thread at worst formats again
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "pid", <ids>..., "exc"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,  # which worker, under ``serve --workers N``
        }
        line.update(_context.get())
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            line.update(_access_fields(record.args))
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc"] = redact(record.exc_text)
        return orjson.dumps(line, default=str).decode()


def _access_fields(args: tuple[Any, ...]) -> dict[str, Any]:
    """uvicorn's access args: (client, method, path?query, http version, status)."""
    if len(args) != 5:
        return {}
    _, method, path, _, status = args
    return {"method": method, "path": redact(str(path)), "status": status}


class TextFormatter(logging.Formatter):
    """The human format: ``time LEVEL logger: message [ids]``, redacted too."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        ids = _context.get()
        if ids:
            text += " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]"
        return text


def log_config(*, fmt: str, level: str, access_log: bool) -> dict[str, Any]:
    """The ``dictConfig`` for ``switchyard serve`` (uvicorn's ``log_config``)."""
    formatter = "json" if fmt == "json" else "text"
    handler = {
        "class": "logging.StreamHandler",
        "formatter": formatter,
        "stream": "ext://sys.stderr",
    }
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": JsonFormatter},
            "text": {"()": TextFormatter},
        },
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": upper},
        "loggers": {
            # uvicorn's loggers propagate to the root's handler: one format for all.
            "uvicorn": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.access": {
                "handlers": [],
                "level": "INFO" if access_log else "CRITICAL",
                "propagate": True,
            },
            # One line per LLM request at INFO (with its URL); DEBUG shows it.
            "httpx": {"level": "WARNING"},
        },
    }
