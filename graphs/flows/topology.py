"""Graph facts about a flow's edges: what START reaches, which edges close loops.

Edges are ``(sources, target)`` pairs in document order; a join has several
sources. Both functions ignore names that are not nodes (dangling edges are
the validator's business) and are pure, so validator and compiler agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphs.flows.document import END, START

__all__ = ["back_edges", "reachable"]

Edges = Sequence[tuple[Sequence[str], str]]


def reachable(edges: Edges) -> set[str]:
    """Nodes some path from START reaches; a join's target needs all its sources reached."""
    reached = {START}
    changed = True
    while changed:
        changed = False
        for sources, target in edges:
            if target not in reached and all(source in reached for source in sources):
                reached.add(target)
                changed = True
    return reached - {START, END}


def back_edges(edges: Edges) -> list[int]:
    """Indexes of the edges that go back to a node on the current DFS path from START.

    Those are the edges that make loops: every cycle reachable from START
    contains at least one, and removing them all leaves the graph acyclic.
    """
    successors: dict[str, list[tuple[str, int]]] = {}
    for index, (sources, target) in enumerate(edges):
        for source in sources:
            successors.setdefault(source, []).append((target, index))
    on_path: set[str] = set()
    done: set[str] = set()
    found: list[int] = []
    # Iterative DFS (a long chain of nodes must not hit the recursion limit).
    stack: list[tuple[str, int]] = [(START, 0)]
    on_path.add(START)
    while stack:
        node, position = stack[-1]
        outgoing = successors.get(node, [])
        if position == len(outgoing):
            stack.pop()
            on_path.discard(node)
            done.add(node)
            continue
        stack[-1] = (node, position + 1)
        target, index = outgoing[position]
        if target == START:
            continue  # not an edge at all (the validator says so), nor a loop
        if target in on_path:
            if index not in found:
                found.append(index)
        elif target not in done and target != END:
            on_path.add(target)
            stack.append((target, 0))
    return sorted(found)
