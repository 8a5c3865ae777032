"""``app.store.assistants_postgres`` beyond the shared contract: instances that start
together, serving different graphs (a rolling deploy), sync the system assistants
without deadlocking each other."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.store.assistants import SYSTEM, Assistant
from tests.support.storage import fresh_storage


def system(*graphs: str) -> list[Assistant]:
    return [Assistant(f"sys-{g}", g, g, metadata={"created_by": SYSTEM}) for g in graphs]


async def test_sync_system_when_two_instances_serve_different_graphs_then_no_deadlock(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    tables = ["assistants", "assistant_versions"]
    async with (
        fresh_storage(request, tmp_path, empty=tables, backend="postgres") as a,
        fresh_storage(request, tmp_path, empty=[], backend="postgres") as b,
    ):
        old, new = system("x", "y", "z1", "z2"), system("x", "z3", "z2", "z1")
        for _ in range(20):
            await asyncio.gather(a.assistants.sync_system(old), b.assistants.sync_system(new))
        found = {s.assistant_id for s in await a.assistants.search(limit=100)}
        assert found in ({a.assistant_id for a in old}, {a.assistant_id for a in new})
