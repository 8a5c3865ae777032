"""``WS /ws``: the JSON-message WebSocket channel."""
