"""Dependent async tasks: a task graph built while it runs.

``executor.dependent_async(fn, *after)`` creates an ``AsyncTask`` that runs ``fn`` once
every task in ``after`` has finished, and returns it with its future; later calls may
name it in their own ``after``. So the graph grows at run time and needs no Taskflow.

State per ``AsyncTask``: ``_join``, the join counter as a token list (as for static
tasks: the pop that takes the ``True`` token at index 0 is the last); ``_succ``, the
tasks waiting for it; ``_finished``; and ``_future``, which holds ``fn`` and its result.

Algorithm (``register`` and ``finish``, under the executor's dependency lock, which only
these two take): the creator holds a token of its own while it registers; for each
predecessor not yet finished it appends a token and the new task to that predecessor's
``_succ``. A finishing task marks itself finished and takes its ``_succ``, then pops a
token of each. The creator pops its own token last; whoever pops ``True`` schedules the
task. A predecessor that fails still counts as finished: its error stays in its future.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from tfnn.executor.future import AsyncFuture

__all__ = ["AsyncTask"]

T = TypeVar("T")


class AsyncTask(Generic[T]):
    """The handle of a dependent async task: name it in later calls' ``after``.

    Example::

        a = executor.silent_dependent_async(load)
        b = executor.silent_dependent_async(parse, a)          # after a
        c, fut = executor.dependent_async(report, a, b)        # after a and b
        fut.result()
    """

    __slots__ = ("_finished", "_future", "_join", "_silent", "_succ", "name")

    def __init__(self, future: AsyncFuture[T], name: str | None, silent: bool) -> None:
        self._future = future
        self.name = name
        self._silent = silent
        self._finished = False
        self._join = [True]
        self._succ: list[AsyncTask[object]] = []

    def done(self) -> bool:
        """Whether it has run."""
        return self._finished

    def __repr__(self) -> str:
        state = "done" if self._finished else "pending"
        return f"AsyncTask({self.name!r}, {state})"


def register(
    task: AsyncTask[T], after: tuple[AsyncTask[object], ...], lock: threading.Lock
) -> bool:
    """Link ``task`` after each of ``after``; True if it may run now (none pending)."""
    for p in after:
        if not isinstance(p, AsyncTask):
            raise TypeError(
                f"dependent_async() runs after AsyncTask handles, not {p!r}; pass the "
                "tasks earlier dependent_async()/silent_dependent_async() calls returned"
            )
    with lock:
        for p in after:
            if not p._finished:
                task._join.append(False)
                p._succ.append(task)  # type: ignore[arg-type]  # any result type
    return task._join.pop()


def finish(task: AsyncTask[T], lock: threading.Lock) -> list[AsyncTask[object]]:
    """``task`` ran: the tasks it was the last predecessor of."""
    with lock:
        task._finished = True
        waiting, task._succ = task._succ, []
    return [s for s in waiting if s._join.pop()]
