"""The state of runs and topologies (what the scheduler in ``scheduler.py`` moves).

- ``Run``: one ``run``/``run_n``/``run_until`` call: its graph, future, predicate and
  callback, the executor it runs on, the ``stop`` flag (cancel or first failure), the
  first error, ``finished`` (set once, under the executor's lock) and its root topology.
- ``Topology``: one execution of one graph: the run's root graph, or a child graph (a
  subflow's or a module's). ``tokens`` holds one entry fewer than its tasks scheduled and
  not finished: a task that finishes without continuing pops a token; the one that finds
  none left was the last, and the topology is done. Tokens are added before the tasks
  they count are queued, by a task still counted, so the count never reaches 0 early.

  How a topology ends depends on ``task`` and ``parent``:

  ====================  ==========  ==========  =========================================
  topology              ``task``    ``parent``  when done
  ====================  ==========  ==========  =========================================
  root                  None        None        next iteration, or the run finishes
  child (subflow,       the task    its         the task finishes: its successors are
  module)                           topology    released in ``parent``
  detached subflow      None        the root    pops a token of the root
  joined subflow        None        None        ``done`` is set; ``join()`` returns
  ====================  ==========  ==========  =========================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from tfnn.executor.asyncs import AsyncTask
    from tfnn.executor.future import AsyncFuture, RunFuture
    from tfnn.executor.graph import Graph
    from tfnn.executor.scheduler import Scheduler
    from tfnn.executor.task import Task


Item: TypeAlias = "Task | AsyncFuture[object] | AsyncTask[object]"
"""What the ready queue holds: a graph task (with its topology) or an async task."""


class Run:
    __slots__ = (
        "callback",
        "error",
        "executor",
        "finished",
        "future",
        "graph",
        "iterations",
        "predicate",
        "root",
        "stop",
    )

    def __init__(
        self,
        executor: Scheduler,
        graph: Graph,
        predicate: Callable[[], bool],
        callback: Callable[[], object] | None,
    ) -> None:
        self.executor = executor
        self.graph = graph
        self.predicate = predicate
        self.callback = callback
        self.future: RunFuture
        self.stop = False
        self.finished = False
        self.error: BaseException | None = None
        self.iterations = 0
        self.root = Topology(graph, self, None, None)


class Topology:
    __slots__ = ("done", "graph", "parent", "run", "task", "tokens")

    def __init__(self, graph: Graph, run: Run, task: Task | None, parent: Topology | None) -> None:
        self.graph = graph
        self.run = run
        self.task = task
        self.parent = parent
        self.tokens: list[None] = []
        self.done = False
