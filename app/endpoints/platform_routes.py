"""The routes of the platform API: assistant writes, the store, crons, thread lifecycle.

Kept apart from ``app.main``'s table so the platform endpoints are one
``*platform_routes()`` line there.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from app.endpoints import assistants, assistants_write, crons, store_items, thread_lifecycle

__all__ = ["platform_routes"]


def platform_routes() -> list[BaseRoute]:
    aid = "/assistants/{assistant_id}"
    return [
        Route("/assistants", assistants_write.create, methods=["POST"]),
        Route(aid, assistants_write.patch, methods=["PATCH"]),
        Route(aid, assistants_write.delete, methods=["DELETE"]),
        Route(aid + "/versions", assistants_write.versions, methods=["POST"]),
        Route(aid + "/latest", assistants_write.set_latest, methods=["POST"]),
        Route(aid + "/subgraphs", assistants.subgraphs, methods=["GET"]),
        Route(aid + "/subgraphs/{namespace}", assistants.subgraphs, methods=["GET"]),
        Route("/threads/prune", thread_lifecycle.prune, methods=["POST"]),
        Route("/threads/{thread_id}/runs/crons", crons.create_for_thread, methods=["POST"]),
        Route("/runs/crons", crons.create_stateless, methods=["POST"]),
        Route("/runs/crons/search", crons.search, methods=["POST"]),
        Route("/runs/crons/count", crons.count, methods=["POST"]),
        Route("/runs/crons/{cron_id}", crons.get, methods=["GET"]),
        Route("/runs/crons/{cron_id}", crons.patch, methods=["PATCH"]),
        Route("/runs/crons/{cron_id}", crons.delete, methods=["DELETE"]),
        Route("/store/items", store_items.put_item, methods=["PUT"]),
        Route("/store/items", store_items.get_item, methods=["GET"]),
        Route("/store/items", store_items.delete_item, methods=["DELETE"]),
        Route("/store/items/search", store_items.search_items, methods=["POST"]),
        Route("/store/namespaces", store_items.list_namespaces, methods=["POST"]),
    ]
