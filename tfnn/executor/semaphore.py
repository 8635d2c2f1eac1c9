"""Semaphores that limit how many of the tasks acquiring them run at once.

State per ``Semaphore``: ``_count`` (units free now), ``_waiters`` (the parked
``(task, topology)`` entries) and a lock guarding both; only tasks with semaphores
(``task._mode is GUARDED``) ever take it.

Algorithm (Taskflow's): before a guarded task runs, ``try_acquire`` takes one unit of
each of its semaphores in order; if one has none left, it gives back the units it took
and parks the task on that semaphore, and the worker moves on (no thread waits). After
the task has run, ``release_units`` gives a unit back to each semaphore it releases and
hands over every task parked there, to be scheduled again (each retries its acquire).
A parked task is still counted by its topology, so a run waits for it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tfnn.executor.task import Task

__all__ = ["Semaphore"]


class Semaphore:
    """At most ``max_concurrency`` of the tasks that acquire it run at once.

    Example (at most 2 of 10 tasks hold GPU memory at a time)::

        gpu = Semaphore(2)
        for fn in work:
            tf.emplace(fn).acquire(gpu).release(gpu)
    """

    __slots__ = ("_count", "_lock", "_waiters", "max_concurrency")

    def __init__(self, max_concurrency: int) -> None:
        if (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 0
        ):
            raise ValueError(f"Semaphore needs max_concurrency >= 0, got {max_concurrency!r}")
        self.max_concurrency = max_concurrency
        self._count = max_concurrency
        self._lock = threading.Lock()
        self._waiters: list[Any] = []  # the scheduler's (task, topology) entries

    @property
    def value(self) -> int:
        """Units free now."""
        return self._count

    def reset(self, max_concurrency: int | None = None) -> None:
        """Make every unit free again (optionally with a new limit); forget parked tasks."""
        with self._lock:
            if max_concurrency is not None:
                self.max_concurrency = max_concurrency
            self._count = self.max_concurrency
            self._waiters.clear()

    def __repr__(self) -> str:
        return f"Semaphore({self.max_concurrency}, free={self._count})"


def try_acquire(task: Task, entry: object) -> tuple[bool, list[Any]]:
    """Take a unit of each of ``task``'s semaphores, or park ``entry`` on the first that
    has none and give back the others. Returns (acquired, entries to reschedule)."""
    taken: list[Semaphore] = []
    for semaphore in task._acquire:
        with semaphore._lock:
            if semaphore._count > 0:
                semaphore._count -= 1
                taken.append(semaphore)
                continue
            semaphore._waiters.append(entry)
        return False, _give_back(taken)
    return True, []


def release_units(task: Task) -> list[Any]:
    """Give back a unit of each semaphore ``task`` releases; the parked entries to retry."""
    return _give_back(task._release)


def _give_back(semaphores: list[Semaphore] | tuple[Semaphore, ...]) -> list[Any]:
    woken: list[Any] = []
    for semaphore in semaphores:
        with semaphore._lock:
            semaphore._count += 1
            woken.extend(semaphore._waiters)
            semaphore._waiters.clear()
    return woken
