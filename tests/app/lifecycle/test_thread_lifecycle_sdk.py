"""The thread lifecycle calls of langgraph-sdk against a real server."""

from __future__ import annotations

from langgraph_sdk import get_client

from tests.support.server import RunningServer


async def test_sdk_when_ttl_supersteps_and_prune_used_then_server_honours_them(
    server: RunningServer,
) -> None:
    sdk = get_client(url=server.url)
    try:
        seeded = await sdk.threads.create(
            graph_id="steps",
            ttl={"ttl": 45, "strategy": "keep_latest"},
            supersteps=[{"updates": [{"values": {"steps": ["seed"]}, "as_node": "one"}]}],
        )
        tid = seeded["thread_id"]
        assert (await sdk.threads.get_state(tid))["values"] == {"steps": ["seed"]}
        shown = await sdk.threads.get(tid, include=["ttl"])
        assert shown["ttl"]["strategy"] == "keep_latest"  # type: ignore[typeddict-item]
        await sdk.threads.update(tid, metadata={"k": 1}, ttl=10)
        shown = await sdk.threads.get(tid, include=["ttl"])
        assert (shown["ttl"]["strategy"], shown["ttl"]["ttl_minutes"]) == ("delete", 10)  # type: ignore[typeddict-item]
        other = (await sdk.threads.create())["thread_id"]
        assert await sdk.threads.prune([tid, other]) == {"pruned_count": 2}
        assert await sdk.threads.search(ids=[tid, other]) == []
    finally:
        await sdk.aclose()
