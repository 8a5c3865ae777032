"""``WS /ws``: runs and their events over one WebSocket (see ``app.transport.ws.session``)."""

from __future__ import annotations

from starlette.websockets import WebSocket

from app.services import services_of
from app.transport.ws.session import WsSession

__all__ = ["endpoint"]


async def endpoint(websocket: WebSocket) -> None:
    await WsSession(websocket, services_of(websocket)).serve()
