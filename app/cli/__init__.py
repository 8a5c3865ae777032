"""The ``switchyard`` command: serve, and a terminal client for a running server."""

from app.cli.main import main

__all__ = ["main"]
