"""Keep tokens out of logs: uvicorn's access log prints every request's full URL.

A stream token is short-lived and scoped to one run, but it is still a
credential while it lives, and access logs are kept, shipped and read by
people who should not hold it. ``redact_access_log`` installs a filter on
``uvicorn.access`` that replaces the value of every credential-bearing
query parameter with ``[redacted]`` before any handler formats the line.
"""

from __future__ import annotations

import logging
import re

__all__ = ["SECRET_QUERY_PARAMETERS", "redact", "redact_access_log"]

SECRET_QUERY_PARAMETERS = ("stream_token", "api_key", "access_token", "token")
_SECRET = re.compile(
    r"(?P<name>(?:^|[?&;])(?:" + "|".join(SECRET_QUERY_PARAMETERS) + r")=)[^&;#\s\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    return _SECRET.sub(r"\g<name>[redacted]", text)


class _RedactQuery(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


_FILTER = _RedactQuery()


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install the filter (once; installing twice is a no-op)."""
    logger = logging.getLogger(logger_name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
