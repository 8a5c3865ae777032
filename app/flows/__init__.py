"""Flows in the server: stored versions, served by the registry, managed over /flows."""
