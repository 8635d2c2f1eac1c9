"""Partitioners: how a parallel algorithm splits ``n`` iterations among its chunk tasks.

Taskflow's three scheduling methods, with the same names and chunk-size meaning:

- ``StaticPartitioner(chunk_size=0)``: chunks handed out in a fixed order. With
  ``chunk_size`` 0, chunk task ``w`` of ``W`` takes one contiguous block of
  ``n // W + (w < n % W)`` iterations; with ``c > 0`` it takes the blocks of ``c`` that
  start at ``w * c, (w + W) * c, ...`` (round robin).
- ``DynamicPartitioner(chunk_size=1)``: every chunk task claims the next block of ``c``
  iterations from a shared counter until none is left (good for irregular work).
- ``GuidedPartitioner(chunk_size=1)`` (the default, as in Taskflow): a claim takes half the
  remaining iterations divided by ``W`` (at least ``c``) while at least ``2 W (c + 1)``
  remain, then blocks of ``c`` (guided self-scheduling, Polychronopoulos and Kuck 1987).

State. ``spans(n, W)`` returns one iterator of ``(begin, end)`` spans per chunk task. The
spans of all iterators together cover ``range(n)`` exactly once. Dynamic and guided
iterators share one ``itertools.count`` of claimed block numbers: ``next()`` on it is a
single C call, so two threads never claim the same block, without a lock. Guided block
bounds do not depend on which task claims a block, only on how many were claimed before,
so the coarse bounds are computed up front (``O(W log n)`` of them) and the fine blocks
after them by arithmetic.

``W`` is the executor's worker count, capped so that no chunk task starts empty. A
parallel algorithm runs inline, without chunk tasks, when ``W <= 1`` or ``n`` is at most
one chunk (``inline(n, W)``), as Taskflow does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

Span = tuple[int, int]


def graph_error(message: str) -> Exception:
    """A ``GraphError``, imported here and not at the top: graph.py imports the
    algorithms (its ``FlowBuilder`` mixin), and so this module, before defining it."""
    from tfnn.executor.graph import GraphError

    return GraphError(message)


class Partitioner:
    """Base class: a chunk size and the ``spans`` of each chunk task."""

    __slots__ = ("chunk_size",)
    default_chunk_size = 1

    def __init__(self, chunk_size: int | None = None) -> None:
        if chunk_size is None:
            chunk_size = self.default_chunk_size
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 0:
            raise graph_error(
                f"{type(self).__name__} needs a chunk size >= 0 (an int), got {chunk_size!r}"
            )
        self.chunk_size = chunk_size

    def inline(self, n: int, workers: int) -> bool:
        """Whether ``n`` iterations run on the calling task, without chunk tasks."""
        return workers <= 1 or n <= max(self.chunk_size, 1)

    def spans(self, n: int, workers: int) -> list[Iterator[Span]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.chunk_size})"


class StaticPartitioner(Partitioner):
    """Fixed assignment: contiguous equal blocks (``chunk_size=0``) or round robin.

    Example::

        tf.for_each(data, f, partitioner=StaticPartitioner())     # W equal blocks
        tf.for_each(data, f, partitioner=StaticPartitioner(64))   # blocks of 64, round robin
    """

    __slots__ = ()
    default_chunk_size = 0

    def spans(self, n: int, workers: int) -> list[Iterator[Span]]:
        c = self.chunk_size
        if c == 0:
            w_count = min(workers, n)
            q, r = divmod(n, w_count)
            starts = [w * q + min(w, r) for w in range(w_count + 1)]
            return [iter([(starts[w], starts[w + 1])]) for w in range(w_count)]
        w_count = min(workers, -(-n // c))
        return [_strided(w * c, n, c, w_count * c) for w in range(w_count)]


def _strided(begin: int, n: int, c: int, stride: int) -> Iterator[Span]:
    for b in range(begin, n, stride):
        yield b, min(b + c, n)


class DynamicPartitioner(Partitioner):
    """Blocks of ``chunk_size`` claimed from a shared counter by whichever task is free.

    Example::

        tf.for_each_index(0, 1000, 1, f, partitioner=DynamicPartitioner(16))
    """

    __slots__ = ()

    def spans(self, n: int, workers: int) -> list[Iterator[Span]]:
        c = max(self.chunk_size, 1)
        claimed = itertools.count()
        return [_claim_fixed(claimed, n, c) for _ in range(min(workers, n))]


def _claim_fixed(claimed: Iterator[int], n: int, c: int) -> Iterator[Span]:
    while True:
        b = next(claimed) * c
        if b >= n:
            return
        yield b, min(b + c, n)


class GuidedPartitioner(Partitioner):
    """Large blocks first, shrinking with the remaining work down to ``chunk_size``.

    Taskflow's default partitioner, and tfnn's. Example::

        tf.reduce(values, total, operator.add, partitioner=GuidedPartitioner(4))
    """

    __slots__ = ()

    def spans(self, n: int, workers: int) -> list[Iterator[Span]]:
        c = max(self.chunk_size, 1)
        bounds = guided_bounds(n, workers, c)
        claimed = itertools.count()
        return [_claim_guided(claimed, bounds, n, c) for _ in range(min(workers, n))]


def guided_bounds(n: int, workers: int, c: int) -> list[int]:
    """Start of each coarse guided block, then the start of the fine-grained part."""
    threshold = 2 * workers * (c + 1)
    bounds = [0]
    b = 0
    while n - b >= threshold:
        b = min(b + max(c, (n - b) // (2 * workers)), n)
        bounds.append(b)
    return bounds


def _claim_guided(claimed: Iterator[int], bounds: list[int], n: int, c: int) -> Iterator[Span]:
    coarse = len(bounds) - 1
    fine_start = bounds[-1]
    while True:
        k = next(claimed)
        if k < coarse:
            yield bounds[k], bounds[k + 1]
            continue
        b = fine_start + (k - coarse) * c
        if b >= n:
            return
        yield b, min(b + c, n)


DefaultPartitioner = GuidedPartitioner
