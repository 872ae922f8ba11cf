"""The ``depends_on`` graph: cycle detection that prints the cycle, and a stable start order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as ``[a, b, ..., a]``, or None. Nodes are visited in a stable order."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(edges, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = grey
        stack.append(node)
        for dep in edges.get(node, ()):
            if dep not in color:
                continue
            if color[dep] == grey:
                return [*stack[stack.index(dep) :], dep]
            if color[dep] == white and (cycle := visit(dep)):
                return cycle
        stack.pop()
        color[node] = black
        return None

    for node in sorted(edges):
        if color[node] == white and (cycle := visit(node)):
            return cycle
    return None


def start_order(edges: Mapping[str, Sequence[str]]) -> list[str]:
    """Dependencies first; ties broken by name so the order is deterministic. Assumes no cycle."""
    remaining = {node: {d for d in deps if d in edges} for node, deps in edges.items()}
    order: list[str] = []
    while remaining:
        ready = sorted(node for node, deps in remaining.items() if not deps)
        if not ready:
            raise ValueError("dependency cycle")
        for node in ready:
            order.append(node)
            del remaining[node]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order


def with_dependencies(selected: Sequence[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    """``selected`` plus everything they depend on, transitively."""
    seen: set[str] = set()
    todo = list(selected)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(edges.get(node, ()))
    return seen
