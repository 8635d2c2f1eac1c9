"""Allreduce tasks in a training graph: ``BW(i) -> AR(b) -> U(i)``.

``wire_allreduce`` takes one step's weight-gradient tasks ``BW(i)`` and update tasks
``U(i)`` (not yet connected) and adds, for each gradient bucket ``b`` of the reducer
(top layer first)::

    BW(i), BW(j) ... -> AR(b) -> U(i), U(j) ...        layers i, j ... of bucket b
    AR(0) -> AR(1) -> ...                               one fixed order of collectives
    BW(lowest) -> U(top) -> U(next) -> ... -> U(lowest) updates after the backward pass

On the communicator's device an ``AR`` task is only *queued* on its stream, so the
worker goes on with the backward pass of lower layers while the stream's thread sums
the upper layers' gradients: the exchange overlaps the computation, as DDP's buckets
do. The chain of ``AR`` tasks makes every rank issue its collectives in the same order
whatever the worker count (MPI matches collectives by order). The updates wait for the
last weight gradient and run top-down: a worker that reaches an update waits for its
reduction, and by then the upper buckets' reductions are the oldest in the stream's
queue. With ``device`` the host (overlap off), each ``AR`` blocks its worker instead.
"""

from __future__ import annotations

from functools import partial
from itertools import pairwise
from typing import Any

from tfnn.parallel.reducer import GradientReducer


def wire_allreduce(
    flow: Any,
    reducer: GradientReducer,
    weights: dict[int, Any],
    updates: dict[int, Any],
    device: str,
    suffix: str = "",
) -> list[Any]:
    """Add and connect the allreduce tasks (module docstring); return them."""
    reductions: list[Any] = []
    for b, layers in enumerate(reducer.buckets):
        present = [i for i in layers if i in weights]
        if not present:
            continue
        task = flow.emplace(partial(reducer.reduce, b), name=f"AR{b}{suffix}", device=device)
        for i in present:
            weights[i].precede(task)
        if reductions:
            reductions[-1].precede(task)
        task.precede(*(updates[i] for i in present))
        reductions.append(task)
    order = sorted(updates, reverse=True)
    if order:
        weights[min(weights)].precede(updates[order[0]])
    for upper, lower in pairwise(order):
        updates[upper].precede(updates[lower])
    return reductions
