"""The task node: its kind, its edges, its join counter, its semaphores.

Edge strength is a property of the edge's *source*: edges leaving a task whose kind is in
``KINDS_WITH_WEAK_OUT_EDGES`` (condition and multi-condition) are **weak**, all others
**strong**. A task's join counter counts its strong predecessors only (see
``tfnn.executor.transitions`` for how it is popped and restored).

A task's ``_mode`` is what the scheduler dispatches on: its kind, or ``GUARDED`` when it
acquires or releases semaphores, so that plain tasks pay nothing for them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from tfnn.executor.graph import Graph, Taskflow
    from tfnn.executor.semaphore import Semaphore
    from tfnn.executor.subflow import Subflow


class GraphError(ValueError):
    """A graph is built or used in a way Taskflow's semantics do not allow."""


class Kind(Enum):
    STATIC = "static"
    CONDITION = "condition"
    MULTI_CONDITION = "multi_condition"
    SUBFLOW = "subflow"
    MODULE = "module"


STATIC = Kind.STATIC
CONDITION = Kind.CONDITION
MULTI_CONDITION = Kind.MULTI_CONDITION
SUBFLOW = Kind.SUBFLOW
MODULE = Kind.MODULE

KINDS_WITH_WEAK_OUT_EDGES: Final = (CONDITION, MULTI_CONDITION)

GUARDED: Final = "guarded"
"""The ``_mode`` of a task with semaphores to acquire or release."""

_ids = itertools.count()


class Task:
    """A node of a Taskflow; also the handle the user links with ``precede``.

    Scheduler state lives in slots: ``_join`` is the join counter as a list of tokens
    (``list.pop`` is atomic, and only the pop that empties it returns True), ``_arm``
    the full counter it is restored to.

    Example::

        a, b = tf.emplace(f, g)
        a.precede(b)          # b runs after a
        a.name, b.device      # "task-0", "cpu"

    ``device`` places a static task on a device registered with the executor (see
    ``tfnn.executor.streams``). ``reads_device`` (default True) says whether a host
    task reads device results: if so it waits for its device predecessors' events.
    """

    __slots__ = (
        "_acquire",
        "_arm",
        "_events",
        "_join",
        "_mode",
        "_preds",
        "_release",
        "_retained",
        "_stream",
        "_succ",
        "_value",
        "data",
        "device",
        "graph",
        "kind",
        "module",
        "name",
        "reads_device",
        "work",
    )

    def __init__(
        self,
        graph: Graph,
        kind: Kind,
        work: Callable[..., Any],
        name: str | None,
        device: str = "cpu",
        data: Any = None,
    ) -> None:
        self.graph = graph
        self.kind = kind
        self._mode: Kind | str = kind
        self.work = work
        self.name = name if name is not None else f"task-{next(_ids)}"
        self.device = device
        self.data = data
        self.module: Taskflow | None = None
        self._succ: list[Task] = []
        self._preds: list[Task] = []
        self._arm: list[bool] = []
        self._join: list[bool] = []
        self._acquire: tuple[Semaphore, ...] = ()
        self._release: tuple[Semaphore, ...] = ()
        self._retained: Subflow | None = None
        # Device state (see tfnn.executor.streams): the stream this task launches on,
        # the (stream, event) pairs its successors must order after, its launch result.
        self._stream: Any = None
        self._events: list[tuple[Any, Any]] = []
        self._value: Any = None
        self.reads_device = True

    def precede(self, *tasks: Task) -> Task:
        """Add edges self -> each task, in order (a condition's index counts from 0)."""
        self._check_idle("precede")
        for t in tasks:
            self._check_same_graph(t)
            self._succ.append(t)
            t._preds.append(self)
        self.graph.version += 1
        return self

    def succeed(self, *tasks: Task) -> Task:
        """Add edges each task -> self."""
        for t in tasks:
            t.precede(self)
        return self

    def remove_successors(self, *tasks: Task) -> Task:
        """Remove the edges self -> each task (all of them, if added twice).

        Example::

            a.precede(b, c)
            a.remove_successors(b)       # a -> c only
        """
        self._check_idle("remove_successors")
        for t in tasks:
            self._check_same_graph(t)
            self._succ = [s for s in self._succ if s is not t]
            t._preds = [p for p in t._preds if p is not self]
        self.graph.version += 1
        return self

    def acquire(self, *semaphores: Semaphore) -> Task:
        """Acquire each semaphore before this task runs (it waits, without a thread, if
        one is at its limit). Example: ``task.acquire(gpu_memory).release(gpu_memory)``."""
        self._acquire = (*self._acquire, *semaphores)
        self._mode = GUARDED
        return self

    def release(self, *semaphores: Semaphore) -> Task:
        """Release each semaphore after this task has run."""
        self._release = (*self._release, *semaphores)
        self._mode = GUARDED
        return self

    @property
    def retained_subflow(self) -> Subflow | None:
        """The child graph of this subflow task's last run, if it called ``retain(True)``."""
        return self._retained

    def _check_idle(self, what: str) -> None:
        if self.graph.busy:
            raise GraphError(
                f"{what}() on task {self.name!r} while {self.graph.name!r} is running; "
                "change a Taskflow before run() or after its future is done"
            )

    def _check_same_graph(self, other: Task) -> None:
        if not isinstance(other, Task):
            raise GraphError(f"task {self.name!r} can only precede Task objects, not {other!r}")
        if other.graph is not self.graph:
            raise GraphError(
                f"task {other.name!r} belongs to {other.graph.name!r}, not to "
                f"{self.graph.name!r}; link tasks within one Taskflow, and use "
                "composed_of() to run another Taskflow as a module task"
            )

    @property
    def successors(self) -> list[Task]:
        return list(self._succ)

    @property
    def predecessors(self) -> list[Task]:
        return list(self._preds)

    @property
    def num_strong_dependencies(self) -> int:
        return sum(1 for p in self._preds if p.kind not in KINDS_WITH_WEAK_OUT_EDGES)

    @property
    def num_weak_dependencies(self) -> int:
        return sum(1 for p in self._preds if p.kind in KINDS_WITH_WEAK_OUT_EDGES)

    def __repr__(self) -> str:
        return f"Task({self.name!r}, {self.kind.value})"
