"""Task graphs with Taskflow's semantics: the builder side.

A ``Taskflow`` owns a list of ``Task`` nodes. Each task has a kind (static, condition,
multi-condition, subflow, module), a callable, and ordered successors.

Edge strength is a property of the edge's *source*: edges leaving a condition or
multi-condition task are **weak**, all others **strong**. A task's join counter counts
its strong predecessors only; the scheduler releases a task when the last of them
finishes, while a condition task schedules its chosen successor directly (weak edge),
whatever that successor's counter says. Sources are the tasks with no predecessor at
all. See ``tfnn.executor.transitions`` for the state changes and ``Executor`` for the
scheduling loop.

Example (a do-while loop counting to 3)::

        +------+     +------+     +------+  0 (weak)
        | init | --> | body | --> | cond | ----------> body
        +------+     +------+     +------+
                                     | 1 (weak)
                                     v
                                   done

    counter = [0]
    tf = Taskflow("count")
    init = tf.emplace(lambda: None, name="init")
    body = tf.emplace(lambda: counter.__setitem__(0, counter[0] + 1), name="body")
    cond = tf.condition(lambda: 0 if counter[0] < 3 else 1, name="cond")
    done = tf.emplace(lambda: None, name="done")
    init.precede(body); body.precede(cond); cond.precede(body, done)
    Executor(workers=2).run(tf).result()   # counter == [3]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

from tfnn.executor.algorithms import ParallelAlgorithms


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

WEAK_SOURCES = (CONDITION, MULTI_CONDITION)

_ids = itertools.count()


def _noop() -> None:
    return None


class Task:
    """A node of a Taskflow; also the handle the user links with ``precede``.

    Scheduler state lives in slots: ``_join`` is the join counter as a list of tokens
    (``list.pop`` is atomic, and only the pop that empties it returns True), ``_arm``
    the full counter used to re-arm it.

    Example::

        a, b = tf.emplace(f, g)
        a.precede(b)          # b runs after a
        a.name, b.device      # "task-0", "cpu"

    ``device`` places a static task on a device registered with the executor (see
    ``tfnn.executor.streams``). ``reads_device`` (default True) says whether a host
    task reads device results: if so it waits for its device predecessors' events.
    """

    __slots__ = (
        "_arm",
        "_events",
        "_join",
        "_preds",
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
        self.work = work
        self.name = name if name is not None else f"task-{next(_ids)}"
        self.device = device
        self.data = data
        self.module: Taskflow | None = None
        self._succ: list[Task] = []
        self._preds: list[Task] = []
        self._arm: list[bool] = []
        self._join: list[bool] = []
        # Device state (see tfnn.executor.streams): the stream this task launches on,
        # the (stream, event) pairs its successors must order after, its launch result.
        self._stream: Any = None
        self._events: list[tuple[Any, Any]] = []
        self._value: Any = None
        self.reads_device = True

    def precede(self, *tasks: Task) -> Task:
        """Add edges self -> each task, in order (a condition's index counts from 0)."""
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
        return sum(1 for p in self._preds if p.kind not in WEAK_SOURCES)

    @property
    def num_weak_dependencies(self) -> int:
        return sum(1 for p in self._preds if p.kind in WEAK_SOURCES)

    def __repr__(self) -> str:
        return f"Task({self.name!r}, {self.kind.value})"


class Graph:
    """The task list of one Taskflow or one spawned subflow."""

    __slots__ = (
        "acyclic_version",
        "armed_version",
        "busy",
        "name",
        "streams_devices",
        "streams_version",
        "tasks",
        "version",
        "waiting",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks: list[Task] = []
        self.version = 0
        self.armed_version = -1
        self.acyclic_version = -1
        self.streams_version = -1
        self.streams_devices: Any = None
        self.busy = False
        self.waiting: list[Any] = []


class FlowBuilder(ParallelAlgorithms):
    """The builder API shared by ``Taskflow`` and the ``Subflow`` a subflow task receives."""

    def __init__(self, name: str) -> None:
        self._graph = Graph(name)

    @property
    def name(self) -> str:
        return self._graph.name

    def _add(
        self, kind: Kind, work: Callable[..., Any], name: str | None, device: str, data: Any
    ) -> Task:
        if not callable(work):
            raise GraphError(f"{kind.value} task {name!r} needs a callable, got {work!r}")
        task = Task(self._graph, kind, work, name, device, data)
        self._graph.tasks.append(task)
        self._graph.version += 1
        return task

    def emplace(
        self,
        *fns: Callable[[], Any],
        name: str | None = None,
        device: str = "cpu",
        data: Any = None,
    ) -> Any:
        """Add static tasks; one callable returns a Task, several return a tuple.

        Example::

            a = tf.emplace(lambda: print("A"), name="A")
            b, c = tf.emplace(f, g)
        """
        if not fns:
            raise GraphError("emplace() needs at least one callable")
        if len(fns) > 1 and name is not None:
            raise GraphError("name= applies to one task; emplace several and set .name each")
        tasks = tuple(self._add(STATIC, fn, name, device, data) for fn in fns)
        return tasks[0] if len(tasks) == 1 else tasks

    def condition(self, fn: Callable[[], int], name: str | None = None, data: Any = None) -> Task:
        """Add a condition task: ``fn()`` returns the index of the one successor to run.

        Its out-edges are weak; an index out of range runs no successor. It runs on the
        host, since the scheduler needs its answer.
        """
        return self._add(CONDITION, fn, name, "cpu", data)

    def multi_condition(
        self, fn: Callable[[], Iterable[int]], name: str | None = None, data: Any = None
    ) -> Task:
        """Add a multi-condition task: ``fn()`` returns the indices of successors to run."""
        return self._add(MULTI_CONDITION, fn, name, "cpu", data)

    def subflow(
        self, fn: Callable[[Subflow], Any], name: str | None = None, data: Any = None
    ) -> Task:
        """Add a subflow task: ``fn(sf)`` builds a child graph at run time; the parent's
        successors run after the whole child graph has finished (join).

        Example::

            def spawn(sf):
                a, b = sf.emplace(f, g)
                a.precede(b)
            tf.subflow(spawn, name="S")
        """
        return self._add(SUBFLOW, fn, name, "cpu", data)

    def composed_of(self, other: Taskflow, name: str | None = None) -> Task:
        """Add a module task that runs the whole of ``other`` (reusable, not concurrently)."""
        if not isinstance(other, Taskflow):
            raise GraphError(f"composed_of() takes a Taskflow, not {other!r}")
        if other._graph is self._graph:
            raise GraphError(f"Taskflow {self.name!r} cannot be a module of itself")
        task = self._add(MODULE, _noop, name if name is not None else other.name, "cpu", None)
        task.module = other
        return task

    def placeholder(self, name: str | None = None) -> Task:
        """Add a task that does nothing until ``task.work = fn`` gives it a body."""
        return self._add(STATIC, _noop, name, "cpu", None)

    @property
    def tasks(self) -> list[Task]:
        return list(self._graph.tasks)

    def num_tasks(self) -> int:
        return len(self._graph.tasks)

    def empty(self) -> bool:
        return not self._graph.tasks

    def clear(self) -> None:
        if self._graph.busy:
            raise GraphError(f"Taskflow {self.name!r} is running; wait for it before clear()")
        self._graph.tasks.clear()
        self._graph.version += 1


class Subflow(FlowBuilder):
    """The builder a subflow task's callable receives; its graph is joined by the parent."""


class Taskflow(FlowBuilder):
    """A task graph. Build it with ``emplace``/``condition``/...; run it with an Executor.

    Example::

        tf = Taskflow("hello")
        a = tf.emplace(lambda: print("A"), name="A")
        b = tf.emplace(lambda: print("B"), name="B")
        a.precede(b)
        Executor().run(tf).result()
    """

    def __init__(self, name: str = "taskflow") -> None:
        super().__init__(name)

    def dump(self) -> str:
        """Graphviz DOT text: condition tasks as diamonds, weak edges dashed with index."""
        from tfnn.executor.dot import to_dot

        return to_dot(self)

    def check(self) -> list[str]:
        """Taskflow's documented pitfalls found in this graph (empty list: none)."""
        from tfnn.executor.transitions import pitfalls

        return pitfalls(self._graph)

    def __repr__(self) -> str:
        return f"Taskflow({self.name!r}, tasks={len(self._graph.tasks)})"
