"""The scheduler: how runs, topologies and tasks move (the threads are ``workers.py``'s).

Algorithm. A run starts its graph's source tasks. A worker that finishes a task asks
``transitions`` which tasks became ready; it runs the first of them itself at once (no
queue round trip, so a chain runs on one worker without touching the queue) and queues
the rest, waking idle workers. Subflow and module tasks start a child topology and
finish later, when the last task of the child finishes (continuation, no blocking), so
one worker can run any nesting; finishing nested children unwinds in a loop, not by
recursion, so depth is not limited by Python's stack. A task with semaphores
(``semaphore.py``) may be parked instead of run, and is queued again when a unit frees.

State: ``Run`` and ``Topology`` (``runs.py``: tokens, and how each kind of topology
ends); join counters (``transitions.py``: Taskflow's rule, a counter is restored when its
task finishes). The hot path takes no lock: counters, tokens and the queue are lists and
a deque whose single calls are atomic under the GIL. ``_lock`` guards sleeping and
waking, run bookkeeping (``_runs``, ``Graph.busy``) and module reuse.

Devices. ``devices`` maps device names to stream pools; tasks placed there are launched
on streams by the rules in ``tfnn.executor.streams`` and are finished, for the
scheduler, once launched. Each iteration of a run ends by synchronising those streams,
so ``result()`` reports a failure inside device work and results are ready to read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from tfnn.executor.asyncs import AsyncTask
from tfnn.executor.future import AsyncFuture, TaskError
from tfnn.executor.graph import Graph
from tfnn.executor.lifecycle import Lifecycle
from tfnn.executor.observer import Observer
from tfnn.executor.runs import Item, Run, Topology
from tfnn.executor.semaphore import release_units, try_acquire
from tfnn.executor.streams import assign_streams, run_on_device
from tfnn.executor.subflow import Subflow
from tfnn.executor.task import (
    CONDITION,
    GUARDED,
    MODULE,
    MULTI_CONDITION,
    STATIC,
    GraphError,
    Task,
)
from tfnn.executor.transitions import advance, arm, release, sources, strong_cycle


class Scheduler(Lifecycle):
    """Runs, topologies and tasks on a ``WorkerPool``; ``Executor`` adds the public API."""

    # -- items, tasks -------------------------------------------------------------------

    def _run_item(self, item: Item, topo: Topology | None, worker: int) -> None:
        if topo is None:
            if type(item) is AsyncFuture:  # the common async task, inline
                try:
                    error = item._execute()
                    if error is not None and item._cooperate is None:
                        self._silent_errors.append(error)
                finally:
                    self._async_done()
                return
            if TYPE_CHECKING:
                assert isinstance(item, AsyncTask)
            self._run_dependent(item)
        else:
            if TYPE_CHECKING:
                assert isinstance(item, Task)
            self._drive(item, topo, worker)

    def _drive(self, task: Task, topo: Topology, worker: int) -> None:
        """Run ``task`` and then, inline, the first task each finish makes ready."""
        run = topo.run
        self._current[worker] = run
        observers = self._observers
        devices = self._devices
        while True:
            if run.stop:
                self._task_done(topo)
                return
            mode = task._mode
            try:
                if mode is STATIC:
                    if observers:
                        _enter(observers, worker, task)
                    try:
                        if devices:
                            run_on_device(task, _body(task))
                        else:
                            task.work()
                    finally:
                        if observers:
                            _exit(observers, worker, task)
                    ready = release(task)
                elif mode is CONDITION or mode is MULTI_CONDITION:
                    if observers:
                        _enter(observers, worker, task)
                    try:
                        value = run_on_device(task, task.work) if devices else task.work()
                    finally:
                        if observers:
                            _exit(observers, worker, task)
                    ready = advance(task, value)
                else:
                    later = self._special(task, topo, worker)
                    if later is None:
                        return
                    ready = later
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

    def _special(self, task: Task, topo: Topology, worker: int) -> list[Task] | None:
        """Run a subflow, module or semaphore-guarded task: what it releases, or None when
        it finishes later (a child graph runs; it waits for a semaphore)."""
        if task._mode is not GUARDED:
            _enter(self._observers, worker, task)
            try:
                return self._spawn(task, topo)
            finally:
                _exit(self._observers, worker, task)
        acquired, woken = try_acquire(task, (task, topo))
        if woken:
            self._enqueue(woken, len(woken))
        if not acquired:
            return None
        try:
            _enter(self._observers, worker, task)
            try:
                kind = task.kind
                if kind is STATIC:
                    if self._devices:
                        run_on_device(task, _body(task))
                    else:
                        task.work()
                    return release(task)
                if kind is CONDITION or kind is MULTI_CONDITION:
                    return advance(task, task.work())
                return self._spawn(task, topo)
            finally:
                _exit(self._observers, worker, task)
        finally:
            woken = release_units(task)
            if woken:
                self._enqueue(woken, len(woken))

    # -- subflows and modules: child topologies -----------------------------------------

    def _spawn(self, task: Task, topo: Topology) -> list[Task] | None:
        """Start the child graph of a subflow or module task: None while it runs, or,
        when the task is finished already (empty, joined, detached), what it releases."""
        run = topo.run
        if task.kind is MODULE:
            child = Topology(self._hold_module(task), run, task, topo)
            try:
                started = self._start_child(child)
            except BaseException:
                self._release_module(task)
                raise
            if started:
                return None
            self._release_module(task)
            return release(task)
        subflow = Subflow(task.name, partial(self._join_subflow, run))
        subflow.executor = self
        task.work(subflow)
        subflow._graph.busy = True  # built: it takes no more tasks
        task._retained = subflow if subflow._retain else None
        if subflow.joined:
            return release(task)
        if subflow.detached:
            self._start_child(Topology(subflow._graph, run, None, run.root), detached=True)
            return release(task)
        if self._start_child(Topology(subflow._graph, run, task, topo)):
            return None
        return release(task)

    def _start_child(self, child: Topology, detached: bool = False) -> bool:
        """Queue the sources of a child topology; False if it has none to run."""
        graph = child.graph
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
        if not ready:
            return False
        if detached:
            # the root waits for it; added by a task the root still counts
            child.run.root.tokens.append(None)
        self._push(ready, child, len(ready) - 1)
        return True

    def _join_subflow(self, run: Run, subflow: Subflow) -> None:
        """``sf.join()`` inside a subflow task: run the child now, cooperatively."""
        subflow._graph.busy = True
        child = Topology(subflow._graph, run, None, None)
        if self._start_child(child) and not self.cooperate(lambda: child.done):
            raise GraphError(f"subflow {subflow.name!r}: join() works inside its task")

    def _hold_module(self, task: Task) -> Graph:
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
        return graph

    def _release_module(self, task: Task) -> None:
        assert task.module is not None
        graph = task.module._graph
        with self._lock:
            following = graph.waiting.pop(0) if graph.waiting else None
            graph.busy = following is not None
        if following is not None:
            following.executor._begin(following)

    def _task_done(self, topo: Topology) -> None:
        """A task of ``topo`` finished and released nothing to run. If it was the last,
        end the topology, and its parents in turn (a loop: nesting depth is unbounded)."""
        while True:
            try:
                topo.tokens.pop()
                return
            except IndexError:
                pass  # it was the last
            parent, task = topo.parent, topo.task
            if parent is None:
                if topo is topo.run.root:
                    following = self._iterate(topo)
                    if following is not None:
                        following.executor._begin(following)
                else:
                    topo.done = True  # a joined subflow: join() returns
                return
            if task is not None and not self._complete(task, parent, topo.graph):
                return
            topo = parent

    def _complete(self, task: Task, topo: Topology, child: Graph) -> bool:
        """Subflow/module ``task`` of ``topo`` finished with its child graph: release its
        successors; True when that released nothing (``topo`` loses a task)."""
        if self._devices:
            task._events = [pair for t in child.tasks for pair in t._events]
        if task.kind is MODULE:
            self._release_module(task)
        if topo.run.stop:
            return True
        ready = release(task)
        if ready:
            self._push(ready, topo, len(ready) - 1)
            return False
        return True


def _body(task: Task) -> Callable[[], object]:
    """The body of ``task``; on a stream it may fail later, so name the task in the error."""
    if task._stream is None:
        return task.work
    return partial(_call_named, task)


def _call_named(task: Task) -> object:
    try:
        return task.work()
    except BaseException as e:
        raise TaskError(task.name, task.graph.name, e) from e


def _enter(observers: tuple[Observer, ...], worker: int, task: Task) -> None:
    for o in observers:
        o.on_entry(worker, task)


def _exit(observers: tuple[Observer, ...], worker: int, task: Task) -> None:
    for o in observers:
        o.on_exit(worker, task)
