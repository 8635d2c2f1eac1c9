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
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, overload

from tfnn.executor.algorithms import ParallelAlgorithms
from tfnn.executor.task import (
    CONDITION,
    MODULE,
    MULTI_CONDITION,
    STATIC,
    SUBFLOW,
    GraphError,
    Kind,
    Task,
)

if TYPE_CHECKING:
    from tfnn.executor.runs import Run
    from tfnn.executor.subflow import Subflow

__all__ = ["FlowBuilder", "Graph", "GraphError", "Kind", "Task", "Taskflow"]


def _noop() -> None:
    return None


class Graph:
    """The task list of one Taskflow or one spawned subflow.

    ``busy`` is True while a run (or a module task) executes the graph, and for good once
    a subflow's graph was spawned: adding tasks or edges then is refused. A run of a busy
    Taskflow waits in ``waiting`` until the one before it finishes, as in Taskflow;
    ``holder`` is the run that executes it now.
    """

    __slots__ = (
        "acyclic_version",
        "armed_version",
        "busy",
        "holder",
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
        self.holder: Run | None = None
        self.waiting: list[Run] = []


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
        if self._graph.busy:
            raise GraphError(
                f"cannot add task {name!r} to {self.name!r} while it is running; build a "
                "Taskflow before run() or after its future is done (a task that grows "
                "the graph at run time is a subflow: tf.subflow(fn))"
            )
        task = Task(self._graph, kind, work, name, device, data)
        self._graph.tasks.append(task)
        self._graph.version += 1
        return task

    @overload
    def emplace(
        self,
        fn: Callable[[], object] | Taskflow,
        /,
        *,
        name: str | None = None,
        device: str = "cpu",
        data: Any = None,
    ) -> Task: ...

    @overload
    def emplace(
        self,
        fn: Callable[[], object] | Taskflow,
        second: Callable[[], object] | Taskflow,
        /,
        *fns: Callable[[], object] | Taskflow,
        device: str = "cpu",
        data: Any = None,
    ) -> tuple[Task, ...]: ...

    def emplace(
        self,
        *fns: Callable[[], object] | Taskflow,
        name: str | None = None,
        device: str = "cpu",
        data: Any = None,
    ) -> Task | tuple[Task, ...]:
        """Add static tasks; one callable returns a Task, several return a tuple.

        A Taskflow in place of a callable adds a module task (``composed_of``).

        Example::

            a = tf.emplace(lambda: print("A"), name="A")
            b, c = tf.emplace(f, g)
            m = tf.emplace(other_taskflow)      # tf.composed_of(other_taskflow)
        """
        if not fns:
            raise GraphError("emplace() needs at least one callable")
        if len(fns) > 1 and name is not None:
            raise GraphError("name= applies to one task; emplace several and set .name each")
        tasks = tuple(
            self.composed_of(fn, name)
            if isinstance(fn, Taskflow)
            else self._add(STATIC, fn, name, device, data)
            for fn in fns
        )
        return tasks[0] if len(tasks) == 1 else tasks

    def linearize(self, tasks: Sequence[Task]) -> None:
        """Chain ``tasks`` in order: ``tasks[0] -> tasks[1] -> ...``.

        Example::

            tf.linearize([load, forward, backward, update])
        """
        for before, after in itertools.pairwise(tasks):
            before.precede(after)

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
        self, fn: Callable[[Subflow], object], name: str | None = None, data: Any = None
    ) -> Task:
        """Add a subflow task: ``fn(sf)`` builds a child graph at run time; the parent's
        successors run after the whole child graph has finished (join). ``sf.join()``
        runs it at once, inside ``fn``; ``sf.detach()`` lets it run on by itself.

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
