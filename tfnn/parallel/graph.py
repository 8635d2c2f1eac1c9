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
queue. With ``device`` the host, each ``AR`` blocks its worker (overlap off), or, with
``split`` (overlap on a CPU rank), ``AR(b)`` only *starts* a non-blocking allreduce and a
wait task ``AW(b)`` ends it::

    AR(b) -> AW(b) -> U(i) ...        AR(last) -> AW(b)

so the one worker goes on with the backward pass of lower layers while the network moves
the upper layers' bytes, with no thread hand-off (measured: a hand-off to the stream's
thread costs a CPU rank more than it hides). A layer the reducer splits into blocks of
rows has no ``AR``/``AW`` tasks: its ``BW(i)`` starts each block's exchange as it computes
it and its ``U(i)`` waits for each block before updating it, so ``BW(i)`` takes that
layer's place in the chain of ``AR`` tasks.
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
    split: bool = False,
) -> list[Any]:
    """Add and connect the allreduce tasks (module docstring); return them."""
    reductions: list[Any] = []
    waits: list[Any] = []
    last_weight = weights[min(weights)] if weights else None
    for b, layers in enumerate(reducer.buckets):
        present = [i for i in layers if i in weights]
        if not present:
            continue
        if b in reducer.rows_of:
            # A block of a split layer: BW(i) starts it, U(i) waits for it.
            (i,) = present
            if not reductions or reductions[-1] is not weights[i]:
                if reductions:
                    reductions[-1].precede(weights[i])
                weights[i].precede(updates[i])
                reductions.append(weights[i])
            continue
        body = reducer.start if split else reducer.reduce
        task = flow.emplace(partial(body, b), name=f"AR{b}{suffix}", device=device)
        for i in present:
            weights[i].precede(task)
        if reductions:
            reductions[-1].precede(task)
        reductions.append(task)
        if split:
            task = flow.emplace(partial(reducer.finish, b), name=f"AW{b}{suffix}", device=device)
            waits.append(task)
        task.precede(*(updates[i] for i in present))
    if waits:
        # Waits come once every exchange has started, which is after the whole backward
        # pass (the lowest layer is in the last bucket): until then the worker computes.
        reductions[-1].precede(*waits)
    order = sorted(updates, reverse=True)
    if order and last_weight is not None:
        last_weight.precede(updates[order[0]])
    for upper, lower in pairwise(order):
        updates[upper].precede(updates[lower])
    return reductions
