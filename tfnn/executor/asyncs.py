"""Dependent async tasks: a task graph built while it runs.

``executor.dependent_async(fn, *after)`` creates an ``AsyncTask`` that runs ``fn`` once
every task in ``after`` has finished, and returns it with its future; later calls may
name it in their own ``after``. So the graph grows at run time and needs no Taskflow.

State per ``AsyncTask``: ``_join``, the join counter as a token list (as for static
tasks: the pop that takes the ``True`` token at index 0 is the last); ``_succ``, the
``(task, claim)`` edges to the tasks waiting for it; ``_finished``; and ``_future``,
which holds ``fn`` and its result.

Algorithm (``register`` and ``finish``, lock-free: a lock here made the submitting
thread and the worker convoy on a chain). The creator holds a token of its own while it
registers. For each predecessor not finished it appends a token, then the edge, with a
one-token ``claim``. A finishing task sets ``_finished``, then claims every edge in its
``_succ``; a creator that sees ``_finished`` after publishing an edge claims it too.
``claim.pop()`` is atomic, so exactly one of them releases the edge, popping a token of
the successor. The creator pops its own token last; whoever pops ``True`` schedules the
task. A predecessor that fails still counts as finished: its error stays in its future.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from tfnn.executor.future import AsyncFuture

__all__ = ["AsyncTask"]

T = TypeVar("T", covariant=True)


class AsyncTask(Generic[T]):
    """The handle of a dependent async task: name it in later calls' ``after``.

    Example::

        a = executor.silent_dependent_async(load)
        b = executor.silent_dependent_async(parse, a)          # after a
        c, fut = executor.dependent_async(report, a, b)        # after a and b
        fut.result()
    """

    __slots__ = ("_finished", "_future", "_join", "_succ", "name")

    def __init__(self, future: AsyncFuture[T], name: str | None) -> None:
        self._future = future
        self.name = name
        self._finished = False
        self._join = [True]
        self._succ: list[tuple[AsyncTask[object], list[bool]]] = []

    def done(self) -> bool:
        """Whether it has run."""
        return self._finished

    def __repr__(self) -> str:
        state = "done" if self._finished else "pending"
        return f"AsyncTask({self.name!r}, {state})"


def register(task: AsyncTask[T], after: tuple[AsyncTask[object], ...]) -> bool:
    """Link ``task`` after each of ``after``; True if it may run now (none pending)."""
    for p in after:
        if not isinstance(p, AsyncTask):
            raise TypeError(
                f"dependent_async() runs after AsyncTask handles, not {p!r}; pass the "
                "tasks earlier dependent_async()/silent_dependent_async() calls returned"
            )
    join = task._join
    published = []
    for p in after:
        if not p._finished:
            claim = [True]
            join.append(False)
            p._succ.append((task, claim))
            published.append((p, claim))
    for p, claim in published:
        if p._finished and claim:
            try:
                claim.pop()
            except IndexError:
                continue  # the finisher released it
            join.pop()
    return join.pop()


def finish(task: AsyncTask[T]) -> list[AsyncTask[object]]:
    """``task`` ran: the tasks it was the last predecessor of."""
    task._finished = True
    ready = []
    for s, claim in task._succ:  # sees edges appended meanwhile too
        try:
            claim.pop()
        except IndexError:
            continue  # their creator released it
        if s._join.pop():
            ready.append(s)
    return ready
