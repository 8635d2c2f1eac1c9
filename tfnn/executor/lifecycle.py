"""Runs, from submission to their future, and async tasks: the executor's bookkeeping.

A run (``runs.Run``) holds its graph while it executes (``Graph.busy``); a run of a busy
graph waits in ``Graph.waiting`` and starts, on the executor it was submitted to, when
the run before it finishes. ``_begin`` starts a run and, in a loop, each run that takes
the graph over because the one before ended at once (an empty graph), so a queue of runs
never recurses. ``_iterate`` starts the root topology's next iteration or finishes the
run; ``_finish`` runs the callback, sets the future and hands the graph on, once.

Async tasks (``AsyncFuture``, ``AsyncTask``) are queued with no topology; ``_pending``
has one entry per async task not finished, popped when it has run, so ``wait_for_all``
covers them (a waiter counts itself in ``_waiters`` before it reads ``_pending``; a
finisher pops before it reads ``_waiters``: one of them sees the other).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from tfnn.executor.asyncs import AsyncTask, finish
from tfnn.executor.future import CancelledError, TaskError
from tfnn.executor.observer import Observer
from tfnn.executor.runs import Item, Run, Topology
from tfnn.executor.streams import assign_streams
from tfnn.executor.task import GraphError, Task
from tfnn.executor.transitions import arm, sources, strong_cycle
from tfnn.executor.workers import WorkerPool


class Stream(Protocol):
    def synchronize(self) -> None: ...


class StreamPool(Protocol):
    """A device's streams (``backend.stream_pool()``, ``SimulatedDevice()``)."""

    @property
    def streams(self) -> Sequence[Stream]: ...


class Lifecycle(WorkerPool):
    """Runs and async tasks on a ``WorkerPool``; ``Scheduler`` adds how tasks run."""

    def __init__(
        self,
        workers: int | None,
        devices: Mapping[str, StreamPool] | None,
        initializer: Callable[[], object] | None,
    ) -> None:
        self._devices = dict(devices or {})
        for name, pool in self._devices.items():
            if not getattr(pool, "streams", None):
                raise ValueError(
                    f"device {name!r} needs a stream pool with a non-empty .streams list, "
                    f"got {pool!r}; use backend.stream_pool() or SimulatedDevice()"
                )
        self._runs: set[Run] = set()
        self._pending: list[None] = []  # one entry per async task not finished
        self._waiters = 0  # threads in wait_for_all
        self._silent_errors: list[BaseException] = []
        self._observers: tuple[Observer, ...] = ()
        super().__init__(workers, initializer)
        self._all_done = threading.Condition(self._lock)

    def _fail(self, run: Run, task: Task, error: BaseException) -> None:
        with self._lock:
            if run.error is None:
                if isinstance(error, TaskError):
                    run.error = error
                else:
                    run.error = TaskError(task.name, task.graph.name, error)
                    run.error.__cause__ = error
            run.stop = True

    def _push(self, tasks: Sequence[Task], topo: Topology, added: int) -> None:
        """Queue ``tasks`` of ``topo``, adding ``added`` tokens (see ``runs.py``:
        ``len(tasks) - 1`` when ``topo`` has nothing pending, else ``len(tasks)`` less
        one for each task they take the place of)."""
        if added:
            topo.tokens.extend([None] * added)
        self._enqueue([(t, topo) for t in tasks], len(tasks))

    # -- runs ---------------------------------------------------------------------------

    def _begin(self, run: Run | None) -> None:
        """Start ``run``, which holds its graph (``graph.busy``), and each run that takes
        the graph over because the one before finished at once."""
        while run is not None:
            run = run.executor._start(run)

    def _start(self, run: Run) -> Run | None:
        run.graph.holder = run
        cycle = strong_cycle(run.graph)
        if cycle:
            names = " -> ".join(t.name for t in [*cycle, cycle[0]])
            return self._finish(
                run,
                GraphError(
                    f"{run.graph.name!r} has a strong cycle {names}: these tasks would wait on "
                    "each other forever; close loops with a condition task (weak edge)"
                ),
            )
        if self._devices:
            assign_streams(run.graph, self._devices)
        return self._iterate(run.root)

    def _iterate(self, topo: Topology) -> Run | None:
        """Start the root topology's next iteration, or finish its run (and return the
        run that takes its graph over)."""
        run = topo.run
        if self._devices and run.iterations:
            self._synchronize_devices(run)
        if run.stop:
            return self._finish(
                run, run.error or CancelledError(f"run of {run.graph.name!r} was cancelled")
            )
        try:
            # An empty graph ends at once, as in Taskflow: no task could change the predicate.
            finished = not topo.graph.tasks or run.predicate()
        except BaseException as e:
            return self._finish(run, e)
        if finished:
            return self._finish(run, None)
        run.iterations += 1
        arm(topo.graph)
        ready = sources(topo.graph)
        if not ready:  # every task has a predecessor: nothing can ever run
            return self._finish(run, None)
        self._push(ready, topo, len(ready) - 1)
        return None

    def _synchronize_devices(self, run: Run) -> None:
        for pool in self._devices.values():
            for stream in pool.streams:
                try:
                    stream.synchronize()
                except BaseException as e:
                    if run.error is None:
                        run.error = e
                    run.stop = True

    def _finish(self, run: Run, error: BaseException | None) -> Run | None:
        """End ``run`` once (callback, future); return the queued run that takes its graph."""
        with self._lock:
            if run.finished:
                return None
            run.finished = True
        if run.callback is not None:
            try:
                run.callback()
            except BaseException as e:
                error = error or e
        graph = run.graph
        with self._lock:
            following = graph.waiting.pop(0) if graph.waiting else None
            graph.busy = following is not None
            graph.holder = None
            self._runs.discard(run)
            run.future._set(error)
            self._all_done.notify_all()
        return following

    def _cancel(self, run: Run) -> bool:
        with self._lock:
            queued = run in run.graph.waiting
            if queued:
                run.graph.waiting.remove(run)
                run.finished = True
                self._runs.discard(run)
                run.future._set(CancelledError(f"run of {run.graph.name!r} was cancelled"))
                self._all_done.notify_all()
            else:
                run.stop = True
        return True

    def _cooperate_run(self, run: Run, done: Callable[[], bool], timeout: float | None) -> bool:
        """``cooperate`` for a run's future; refuses a wait that could never end."""
        worker = self._workers.get(threading.get_ident())
        if worker is not None and run in run.graph.waiting:
            holder = run.graph.holder
            if holder is not None and holder is self._current[worker]:
                raise GraphError(
                    f"a task of {run.graph.name!r} waits for another run of its own "
                    "Taskflow, which can start only after this run ends; run a copy, or "
                    "wait outside the task"
                )
        return self.cooperate(done, timeout)

    # -- async tasks --------------------------------------------------------------------

    def _run_dependent(self, node: AsyncTask[object]) -> None:
        """Run ``node`` and then, inline, the first dependent task each finish releases."""
        while True:
            try:
                future = node._future
                error = future._execute()
                if error is not None and future._cooperate is None:
                    self._silent_errors.append(error)
                ready = finish(node)
            finally:
                self._async_done()
            if not ready:
                return
            if len(ready) > 1:
                self._enqueue([(n, None) for n in ready[1:]], len(ready) - 1)
            node = ready[0]

    def _async_done(self) -> None:
        self._pending.pop()
        if not self._pending and self._waiters:
            with self._lock:
                self._all_done.notify_all()

    def _report(self, item: Item, topo: Topology | None, error: BaseException) -> None:
        """An executor bug escaped a worker: fail the run (or report it at the next
        ``wait_for_all``) instead of letting the worker die and the run hang."""
        if topo is None:
            self._silent_errors.append(error)
            return
        run = topo.run
        run.stop = True
        if run.error is None:
            run.error = error
        following = self._finish(run, error)
        if following is not None:
            following.executor._begin(following)
