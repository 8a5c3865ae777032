"""A startup that fails on user graphs says why in one message, not a traceback.

Starlette reports a failed lifespan to the server as the formatted traceback
of the exception (uvicorn logs it, then "Application startup failed"). For a
graph that does not load, the frames are Switchyard's and say nothing; the
message is what the user needs: every broken spec and its reason
(``graphs.registry.GraphsFailedToLoad``). This middleware swaps the
traceback for that message; any other startup failure keeps its traceback.
"""

from __future__ import annotations

import sys

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphs.loader import GraphLoadError

__all__ = ["ReadableStartupFailure"]


class ReadableStartupFailure:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_readable(message: Message) -> None:
            # Sent from inside Starlette's `except` block: the exception being
            # handled is the one that stopped startup.
            failure = sys.exc_info()[1]
            if message["type"] == "lifespan.startup.failed" and isinstance(failure, GraphLoadError):
                message = {**message, "message": str(failure)}
            await send(message)

        await self.app(scope, receive, send_readable)
