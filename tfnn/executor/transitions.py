"""Scheduler state transitions, as plain functions testable without threads.

State (all on ``Task`` slots, see ``tfnn.executor.task``):

- ``task._arm``: the full join counter, ``[True] + [False] * (n - 1)`` for ``n`` strong
  predecessors (empty for tasks with none);
- ``task._join``: the live counter. A finishing strong predecessor pops one token;
  ``list.pop`` is atomic, so exactly one predecessor pops the ``True`` token and that
  one releases the task, without a lock.

Join-counter rule (Taskflow's): **when a task finishes, its join counter is restored to
its number of strong dependencies**, whatever popped it before. So a task that a
condition scheduled through a weak edge, while one of its strong predecessors had
already finished, runs once, and the strong predecessor that finishes after it counts
toward its next run. Example (X runs once)::

    S -> P1 -> X -> C2 --0--> P2 -> X        C1 --0--> X   (weak)
         P1 -> C1

A strong predecessor that finishes while its successor is released and not yet finished
pops nothing (the successor's counter is empty until it finishes): that edge counts
toward nothing, which is Taskflow's undefined case made harmless.

Transitions:

- ``arm(graph)`` at the start of every run (and every iteration of ``run_n``): rebuild
  ``_arm`` when the graph changed, and refill any counter a previous iteration left
  partly popped (a branch not taken, a cancelled run);
- ``sources(graph)``: tasks with no predecessors at all;
- ``release(task)``: ``task`` (a strong source) finished: restore its counter and return
  the successors whose counter it emptied;
- ``advance(task, value)``: the tasks made ready by ``task`` finishing with return value
  ``value``: ``release`` for a strong source; for a condition, the one successor
  ``value`` names (weak edge: scheduled directly, counters untouched); for a
  multi-condition, those it names.

The executors (``Executor`` and ``SyncExecutor``) only add *where* ready tasks run.
"""

from __future__ import annotations

import operator
from collections import deque
from typing import SupportsIndex

from tfnn.executor.graph import Graph
from tfnn.executor.task import CONDITION, KINDS_WITH_WEAK_OUT_EDGES, MULTI_CONDITION, Task


def arm(graph: Graph) -> None:
    """Make every join counter full, recomputing them if the graph changed."""
    if graph.armed_version != graph.version:
        for t in graph.tasks:
            n = sum(1 for p in t._preds if p.kind not in KINDS_WITH_WEAK_OUT_EDGES)
            t._arm = [True] + [False] * (n - 1) if n else []
            t._join = t._arm.copy()
        graph.armed_version = graph.version
        return
    for t in graph.tasks:
        if len(t._join) != len(t._arm):
            t._join = t._arm.copy()


def sources(graph: Graph) -> list[Task]:
    """Tasks with no predecessor, strong or weak."""
    return [t for t in graph.tasks if not t._preds]


def release(task: Task) -> list[Task]:
    """``task`` (strong out-edges) finished: restore its counter; return the successors
    whose counter it emptied."""
    task._join = task._arm.copy()
    ready = []
    for s in task._succ:
        try:
            if s._join.pop():
                ready.append(s)
        except IndexError:
            pass  # s is released and not finished yet: see the module docstring
    return ready


def advance(task: Task, value: object) -> list[Task]:
    """The tasks ``task`` makes ready by finishing with return value ``value``."""
    kind = task.kind
    if kind is CONDITION:
        task._join = task._arm.copy()
        i = value if type(value) is int else _index(task, value)
        return [task._succ[i]] if 0 <= i < len(task._succ) else []
    if kind is MULTI_CONDITION:
        task._join = task._arm.copy()
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(
                f"multi-condition task {task.name!r} returned {value!r}; "
                "return a list of successor indices"
            )
        n = len(task._succ)
        return [task._succ[i] for i in (_index(task, v) for v in value) if 0 <= i < n]
    return release(task)


def _index(task: Task, value: object) -> int:
    if type(value) is int:
        return value
    if not isinstance(value, bool) and isinstance(value, SupportsIndex):
        return operator.index(value)
    raise TypeError(
        f"condition task {task.name!r} returned {value!r} ({type(value).__name__}); "
        "a condition must return the integer index of the successor to run"
    )


def strong_order(graph: Graph) -> tuple[list[Task], dict[int, int]]:
    """Tasks in a topological order of the strong edges (Kahn's algorithm).

    Returns the order and what is left of each task's strong in-degree: tasks on or
    behind a strong cycle are missing from the order and keep a positive count.
    """
    indegree = {id(t): 0 for t in graph.tasks}
    for t in graph.tasks:
        if t.kind not in KINDS_WITH_WEAK_OUT_EDGES:
            for s in t._succ:
                indegree[id(s)] += 1
    queue = deque(t for t in graph.tasks if indegree[id(t)] == 0)
    order = []
    while queue:
        t = queue.popleft()
        order.append(t)
        if t.kind in KINDS_WITH_WEAK_OUT_EDGES:
            continue
        for s in t._succ:
            indegree[id(s)] -= 1
            if indegree[id(s)] == 0:
                queue.append(s)
    return order, indegree


def strong_cycle(graph: Graph) -> list[Task] | None:
    """A cycle made only of strong edges (a task waiting on itself), or None.

    What ``strong_order`` cannot order lies on or behind a strong cycle, and an
    iterative walk from there names one cycle. The answer "none" is remembered until
    the graph changes, so repeated runs do not pay for it.
    """
    if graph.acyclic_version == graph.version:
        return None
    order, indegree = strong_order(graph)
    if len(order) == len(graph.tasks):
        graph.acyclic_version = graph.version
        return None
    # Every unordered task has an unordered strong predecessor, so walking predecessors
    # must revisit a task: the walk from that task is the cycle.
    t = next(t for t in graph.tasks if indegree[id(t)] > 0)
    path: list[Task] = []
    index: dict[int, int] = {}
    while id(t) not in index:
        index[id(t)] = len(path)
        path.append(t)
        t = next(
            p for p in t._preds if p.kind not in KINDS_WITH_WEAK_OUT_EDGES and indegree[id(p)] > 0
        )
    return list(reversed(path[index[id(t)] :]))


def pitfalls(graph: Graph) -> list[str]:
    """Describe Taskflow's documented pitfalls present in ``graph``."""
    found = []
    if graph.tasks and not sources(graph):
        found.append("no source task: every task has a predecessor, so a run does nothing")
    cycle = strong_cycle(graph)
    if cycle:
        names = " -> ".join(t.name for t in [*cycle, cycle[0]])
        found.append(f"strong cycle {names}: these tasks wait on each other and never run")
    for t in graph.tasks:
        if t.num_strong_dependencies > 1:
            branches = {
                p for p in t._preds if p.kind not in KINDS_WITH_WEAK_OUT_EDGES and _case_of(p)
            }
            if len(branches) > 1:
                found.append(
                    f"task {t.name!r} joins {len(branches)} condition cases with "
                    "strong edges: only one case runs, so it never does; make the cases "
                    "condition tasks returning 0"
                )
    return found


def _case_of(task: Task) -> bool:
    """Whether ``task`` is reached only through a weak edge (a switch case)."""
    return bool(task._preds) and all(p.kind in KINDS_WITH_WEAK_OUT_EDGES for p in task._preds)
