"""The Executor: worker threads that run Taskflow graphs.

Algorithm. A run starts its graph's source tasks. A worker that finishes a task asks
``transitions.advance`` which tasks became ready; it runs the first of them itself at
once (no queue round trip, so a chain runs on one worker without touching the queue)
and appends the rest to the shared FIFO ``_queue``, waking idle workers. Subflow and
module tasks start a child topology and finish later, when the last task of the
child finishes (continuation, no blocking), so one worker can run any nesting.

State.

- ``_Run``: one ``run``/``run_n``/``run_until`` call: its Taskflow, future, predicate,
  the ``stop`` flag (cancel or first failure) and the first error.
- ``_Topology``: one execution of one graph, the run's root graph or a child graph:
  ``tokens`` holds one entry fewer than its tasks scheduled and not finished. A task
  that finishes without continuing pops a token; the one that finds none left was the
  last, and the topology is done: a child resumes its parent task, a root either
  starts the next iteration (``run_until``'s predicate is false) or finishes the run.
  Tokens are added before the tasks they count are queued, by a task still counted, so
  the count never reaches 0 early.
- A graph runs at most once at a time (``Graph.busy``); a run of a busy Taskflow waits
  in ``Graph.waiting`` and starts when the one before it finishes, as in Taskflow.

The hot path takes no lock: join counters (``transitions``), tokens and the queue are
lists and a deque whose single calls are atomic under the GIL. ``_lock`` guards only
sleeping and waking (``_idle``), run bookkeeping and module reuse. A pusher appends to
the queue, then reads ``_idle``; a worker going to sleep counts itself idle, then
re-checks the queue, both under ``_lock``, so a push is never missed (measured on 2
cores: one lock per task made two workers convoy, 1 to 7 us per task on a fan-out).
``SyncExecutor`` runs the same loop on the calling thread.

Devices. ``devices`` maps device names to stream pools; tasks placed there are launched
on streams by the rules in ``tfnn.executor.streams`` and are finished, for the
scheduler, once launched. Each iteration of a run ends by synchronising those streams,
so ``result()`` reports a failure inside device work and results are ready to read.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from tfnn.executor.future import CancelledError, RunFuture, TaskError
from tfnn.executor.graph import (
    CONDITION,
    MODULE,
    MULTI_CONDITION,
    STATIC,
    Graph,
    GraphError,
    Subflow,
    Task,
    Taskflow,
)
from tfnn.executor.observer import Observer
from tfnn.executor.streams import assign_streams, run_on_device
from tfnn.executor.transitions import advance, arm, release, sources, strong_cycle


class _Run:
    __slots__ = ("error", "future", "graph", "iterations", "predicate", "stop")

    def __init__(self, graph: Graph, predicate: Callable[[], bool]) -> None:
        self.graph = graph
        self.predicate = predicate
        self.future: RunFuture
        self.stop = False
        self.error: BaseException | None = None
        self.iterations = 0


class _Topology:
    __slots__ = ("graph", "parent", "run", "tokens")

    def __init__(self, graph: Graph, run: _Run, parent: tuple[Task, _Topology] | None) -> None:
        self.graph = graph
        self.run = run
        self.parent = parent
        self.tokens: list[None] = []


class Executor:
    """Run Taskflows on ``workers`` threads.

    Example::

        with Executor(workers=2) as ex:
            ex.run(tf).result()             # once
            ex.run_n(tf, 10).result()       # ten times in a row
            ex.run_until(tf, lambda: done).result()

    ``devices={"cuda:0": backend.stream_pool(4)}`` registers a device's streams.
    ``initializer`` runs once at the start of each worker thread, as in
    ``concurrent.futures`` (say, a library's per-thread thread count); if it raises, the
    constructor shuts the executor down and raises.
    """

    def __init__(
        self,
        workers: int | None = None,
        devices: Mapping[str, Any] | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> None:
        if workers is None:
            workers = os.cpu_count() or 1
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"Executor needs workers >= 1, got {workers!r}")
        self.num_workers = workers
        self._queue: deque[tuple[Task, _Topology]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._all_done = threading.Condition(self._lock)
        self._idle = 0
        self._runs: set[_Run] = set()
        self._shutdown = False
        self._observers: tuple[Observer, ...] = ()
        self._devices = dict(devices or {})
        for name, pool in self._devices.items():
            if not getattr(pool, "streams", None):
                raise ValueError(
                    f"device {name!r} needs a stream pool with a non-empty .streams list, "
                    f"got {pool!r}; use backend.stream_pool() or SimulatedDevice()"
                )
        self._threads = [
            threading.Thread(
                target=self._worker_loop, args=(i,), name=f"tfnn-worker-{i}", daemon=True
            )
            for i in range(self._thread_count())
        ]
        self._initializer = initializer
        self._initialized = threading.Barrier(len(self._threads) + 1)
        self._init_errors: list[BaseException] = []
        for t in self._threads:
            t.start()
        if initializer is not None:
            self._initialized.wait()
            if self._init_errors:
                self.shutdown()
                raise RuntimeError(
                    f"the executor's worker initializer {initializer!r} failed: "
                    f"{self._init_errors[0]!r}"
                ) from self._init_errors[0]

    def _thread_count(self) -> int:
        return self.num_workers

    # -- public API ---------------------------------------------------------------------

    def run(self, taskflow: Taskflow) -> RunFuture:
        """Run ``taskflow`` once; returns a future."""
        return self.run_n(taskflow, 1)

    def run_n(self, taskflow: Taskflow, n: int) -> RunFuture:
        """Run ``taskflow`` ``n`` times in a row."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"run_n needs a count >= 0, got {n!r}")
        count = [0]

        def enough() -> bool:
            if count[0] >= n:
                return True
            count[0] += 1
            return False

        return self.run_until(taskflow, enough)

    def run_until(self, taskflow: Taskflow, predicate: Callable[[], bool]) -> RunFuture:
        """Run ``taskflow`` again and again until ``predicate()`` is true.

        The predicate is checked before the first iteration and after each one.
        """
        if not isinstance(taskflow, Taskflow):
            raise TypeError(f"Executor runs Taskflow objects, not {taskflow!r}")
        if self._shutdown:
            raise RuntimeError("this Executor was shut down; create a new one")
        run = _Run(taskflow._graph, predicate)
        run.future = RunFuture(lambda: self._cancel(run))
        with self._lock:
            self._runs.add(run)
            if run.graph.busy:
                run.graph.waiting.append(run)
                return run.future
            run.graph.busy = True
        self._begin(run)
        return run.future

    def wait_for_all(self) -> None:
        """Block until every run submitted so far has finished."""
        with self._lock:
            while self._runs:
                self._all_done.wait()

    def cancel_all(self) -> None:
        """Cancel every run submitted and not finished (cooperatively, as ``cancel``)."""
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.future.cancel()

    def observe(self, observer: Observer) -> Observer:
        """Call ``observer.on_entry/on_exit(worker, task)`` around every task body."""
        self._observers = (*self._observers, observer)
        return observer

    def remove_observer(self, observer: Observer) -> None:
        self._observers = tuple(o for o in self._observers if o is not observer)

    def shutdown(self) -> None:
        """Finish what was submitted, then stop the worker threads."""
        self.wait_for_all()
        with self._lock:
            self._shutdown = True
            self._wake.notify_all()
        for t in self._threads:
            t.join()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.num_workers})"

    # -- runs and topologies ------------------------------------------------------------

    def _begin(self, run: _Run) -> None:
        """Start a run whose graph this run now holds (``graph.busy``)."""
        cycle = strong_cycle(run.graph)
        if cycle:
            names = " -> ".join(t.name for t in [*cycle, cycle[0]])
            self._finish(
                run,
                GraphError(
                    f"{run.graph.name!r} has a strong cycle {names}: these tasks would wait on "
                    "each other forever; close loops with a condition task (weak edge)"
                ),
            )
            return
        if self._devices:
            assign_streams(run.graph, self._devices)
        self._iterate(_Topology(run.graph, run, None))

    def _iterate(self, topo: _Topology) -> None:
        """Start the root topology's next iteration, or finish its run."""
        run = topo.run
        while True:
            if self._devices and run.iterations:
                self._synchronize_devices(run)
            if run.stop:
                self._finish(
                    run, run.error or CancelledError(f"run of {run.graph.name!r} was cancelled")
                )
                return
            try:
                finished = run.predicate()
            except BaseException as e:
                self._finish(run, e)
                return
            if finished:
                self._finish(run, None)
                return
            run.iterations += 1
            arm(topo.graph)
            ready = sources(topo.graph)
            if ready:
                self._push(ready, topo, len(ready) - 1)
                return

    def _synchronize_devices(self, run: _Run) -> None:
        for pool in self._devices.values():
            for stream in pool.streams:
                try:
                    stream.synchronize()
                except BaseException as e:
                    if run.error is None:
                        run.error = e
                    run.stop = True

    def _finish(self, run: _Run, error: BaseException | None) -> None:
        graph = run.graph
        with self._lock:
            following = graph.waiting.pop(0) if graph.waiting else None
            graph.busy = following is not None
            self._runs.discard(run)
            self._all_done.notify_all()
        run.future._set(error)
        if following is not None:
            self._begin(following)

    def _cancel(self, run: _Run) -> bool:
        with self._lock:
            if run in run.graph.waiting:
                run.graph.waiting.remove(run)
                self._runs.discard(run)
                self._all_done.notify_all()
                queued = True
            else:
                run.stop = True
                queued = False
        if queued:
            run.future._set(CancelledError(f"run of {run.graph.name!r} was cancelled"))
        return True

    def _fail(self, run: _Run, task: Task, error: BaseException) -> None:
        with self._lock:
            if run.error is None:
                if isinstance(error, TaskError):
                    run.error = error
                else:
                    run.error = TaskError(task.name, task.graph.name, error)
                    run.error.__cause__ = error
            run.stop = True

    def _push(self, tasks: Sequence[Task], topo: _Topology, added: int) -> None:
        """Queue ``tasks`` of ``topo``, adding ``added`` tokens (see the module docstring:
        ``len(tasks) - 1`` when ``topo`` has nothing pending, else ``len(tasks)`` less
        one for each task they take the place of)."""
        if added:
            topo.tokens.extend([None] * added)
        self._queue.extend([(t, topo) for t in tasks])
        if self._idle:
            with self._lock:
                self._wake.notify(len(tasks))

    def _task_done(self, topo: _Topology) -> None:
        """A task of ``topo`` finished and released nothing to run."""
        try:
            topo.tokens.pop()
            return
        except IndexError:
            pass  # it was the last
        if topo.parent is None:
            self._iterate(topo)
        else:
            self._resume(*topo.parent, topo.graph)

    def _resume(self, task: Task, topo: _Topology, child: Graph) -> None:
        """The child graph of subflow/module ``task`` has finished: release its successors."""
        if self._devices:
            task._events = [pair for t in child.tasks for pair in t._events]
        if task.kind is MODULE:
            self._release_module(task)
        if topo.run.stop:
            self._task_done(topo)
            return
        ready = release(task)
        if ready:
            self._push(ready, topo, len(ready) - 1)
        else:
            self._task_done(topo)

    # -- the worker loop ----------------------------------------------------------------

    def _worker_loop(self, worker: int) -> None:
        if self._initializer is not None:
            try:
                self._initializer()
            except BaseException as e:
                self._init_errors.append(e)
            self._initialized.wait()
        queue = self._queue
        while True:
            try:
                task, topo = queue.popleft()
            except IndexError:
                with self._lock:
                    self._idle += 1
                    while not queue and not self._shutdown:
                        self._wake.wait()
                    self._idle -= 1
                    if self._shutdown and not queue:
                        return
                continue
            self._drive(task, topo, worker)

    def _drive(self, task: Task, topo: _Topology, worker: int) -> None:
        """Run ``task`` and then, inline, the first task each finish makes ready."""
        run = topo.run
        observers = self._observers
        devices = self._devices
        while True:
            if run.stop:
                self._task_done(topo)
                return
            kind = task.kind
            try:
                if observers:
                    for o in observers:
                        o.on_entry(worker, task)
                try:
                    if kind is STATIC:
                        if devices:
                            run_on_device(task, _body(task))
                        else:
                            task.work()
                        ready = release(task)
                    elif kind is CONDITION or kind is MULTI_CONDITION:
                        value = run_on_device(task, task.work) if devices else task.work()
                        ready = advance(task, value)
                    elif self._spawn(task, topo):
                        return
                    else:
                        ready = release(task)
                finally:
                    if observers:
                        for o in observers:
                            o.on_exit(worker, task)
            except BaseException as e:
                self._fail(run, task, e)
                self._task_done(topo)
                return
            if not ready:
                self._task_done(topo)
                return
            if len(ready) > 1:
                self._push(ready[1:], topo, len(ready) - 1)
            task = ready[0]

    def _spawn(self, task: Task, topo: _Topology) -> bool:
        """Start the child graph of a subflow or module task; False if it is empty."""
        if task.kind is MODULE:
            assert task.module is not None
            graph = task.module._graph
            with self._lock:
                if graph.busy:
                    raise GraphError(
                        f"module {graph.name!r} is already running; a Taskflow can be a "
                        "module of several tasks, but they must not run at the same time "
                        "(add an edge between them)"
                    )
                graph.busy = True
        else:
            subflow = Subflow(task.name)
            subflow.executor = self
            task.work(subflow)
            graph = subflow._graph
        try:
            if self._devices:
                assign_streams(graph, self._devices)
            cycle = strong_cycle(graph)
            if cycle:
                raise GraphError(
                    f"{graph.name!r} has a strong cycle through {cycle[0].name!r}; close "
                    "loops with a condition task"
                )
            arm(graph)
            ready = sources(graph)
        except BaseException:
            if task.kind is MODULE:
                self._release_module(task)
            raise
        if not ready:
            if task.kind is MODULE:
                self._release_module(task)
            return False
        self._push(ready, _Topology(graph, topo.run, (task, topo)), len(ready) - 1)
        return True

    def _release_module(self, task: Task) -> None:
        assert task.module is not None
        graph = task.module._graph
        with self._lock:
            following = graph.waiting.pop(0) if graph.waiting else None
            graph.busy = following is not None
        if following is not None:
            self._begin(following)


def _body(task: Task) -> Callable[[], Any]:
    """The body of ``task``; on a stream it may fail later, so name the task in the error."""
    if task._stream is None:
        return task.work
    return partial(_call_named, task)


def _call_named(task: Task) -> Any:
    try:
        return task.work()
    except BaseException as e:
        raise TaskError(task.name, task.graph.name, e) from e


class SyncExecutor(Executor):
    """The reference executor: the same transitions, run on the calling thread.

    ``run`` returns a future that is already done. Tasks run in a deterministic order,
    the same as ``Executor(workers=1)``'s, which makes it the oracle for tests.
    """

    def __init__(self, devices: Mapping[str, Any] | None = None) -> None:
        super().__init__(workers=1, devices=devices)

    def _thread_count(self) -> int:
        return 0

    def run_until(self, taskflow: Taskflow, predicate: Callable[[], bool]) -> RunFuture:
        future = super().run_until(taskflow, predicate)
        queue = self._queue
        while queue:
            task, topo = queue.popleft()
            self._drive(task, topo, 0)
        return future

    def shutdown(self) -> None:
        self._shutdown = True
