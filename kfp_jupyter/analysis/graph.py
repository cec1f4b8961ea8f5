"""Small graph helpers over step names: stable topological order and cycle finding."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence


def find_cycle(nodes: Sequence[str], edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as [a, b, ..., a] following `edges[x]` = the steps x comes after, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(nodes, WHITE)
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        color[n] = GREY
        stack.append(n)
        for m in edges.get(n, ()):
            if m not in color:
                continue
            if color[m] == GREY:
                cyc = [*stack[stack.index(m) :], m]
                return list(reversed(cyc))
            if color[m] == WHITE:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        color[n] = BLACK
        return None

    for n in nodes:
        if color[n] == WHITE:
            found = visit(n)
            if found:
                return found
    return None


def stable_topological_order(nodes: Sequence[str], after: Mapping[str, Sequence[str]]) -> list[str]:
    """Order `nodes` so each comes after its `after` steps, keeping notebook order where free."""
    position = {n: i for i, n in enumerate(nodes)}
    waiting = {n: len({m for m in after.get(n, ()) if m in position}) for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for n in nodes:
        for m in set(after.get(n, ())):
            if m in position:
                children[m].append(n)
    ready = [position[n] for n in nodes if waiting[n] == 0]
    heapq.heapify(ready)
    done: list[str] = []
    while ready:
        n = nodes[heapq.heappop(ready)]
        done.append(n)
        for c in children[n]:
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, position[c])
    if len(done) != len(nodes):
        raise ValueError("cycle")
    return done


def ancestors(name: str, after: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(after.get(name, ()))
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(after.get(n, ()))
    return seen
