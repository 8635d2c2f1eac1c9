"""The Executor: the public API over the scheduler (``scheduler.py``) and its threads
(``workers.py``).

Graph runs: ``run``, ``run_n``, ``run_until`` (each optionally with a callback run when
it ends), ``corun`` and ``corun_until`` from inside a task. Async tasks: ``async_`` /
``submit`` (with a future), ``silent_async``, and dependent async tasks
(``dependent_async``, ``silent_dependent_async``; see ``asyncs.py``), which build a graph
at run time. ``wait_for_all`` waits for all of them.

Semantics, as in Taskflow:

- edges out of condition tasks are weak, all others strong; a task runs when its last
  strong predecessor finishes, or at once when a condition picks it; **when a task
  finishes, its join counter is restored to its number of strong predecessors** (so a
  task a condition scheduled early, with a strong predecessor already done, runs once:
  the worked example is in ``transitions.py``);
- a Taskflow runs one run at a time: a run of a busy Taskflow queues behind it, on
  whichever executor it was submitted to; an empty Taskflow's run ends at once;
- the first exception raised in a task stops that run (running tasks finish, no new one
  starts) and ``result()`` re-raises it as ``TaskError`` naming the task;
- an exception in ``async_``'s function is raised by its future's ``result()``; one in a
  silent async task by the next ``wait_for_all()``;
- waiting inside a task (``sf.join()``, ``future.result()``, ``corun``) runs other
  queued tasks on the waiting worker meanwhile, so one worker never deadlocks on it;
  ``shutdown()`` and ``wait_for_all()`` inside a task raise, since they would wait for
  the task itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import ParamSpec, TypeVar

from tfnn.executor.asyncs import AsyncTask, register
from tfnn.executor.future import AsyncFuture, RunFuture
from tfnn.executor.graph import Taskflow
from tfnn.executor.lifecycle import StreamPool
from tfnn.executor.observer import Observer
from tfnn.executor.runs import Run
from tfnn.executor.scheduler import Scheduler
from tfnn.executor.workers import MAX_WORKERS

__all__ = ["MAX_WORKERS", "Executor"]

P = ParamSpec("P")
T = TypeVar("T")


class Executor(Scheduler):
    """Run Taskflows and async tasks on ``workers`` threads (at most ``MAX_WORKERS``).

    Example::

        with Executor(workers=2) as ex:
            ex.run(tf).result()             # once
            ex.run_n(tf, 10).result()       # ten times in a row
            ex.run_until(tf, lambda: done).result()
            ex.async_(pow, 2, 10).result()  # 1024

    ``devices={"cuda:0": backend.stream_pool(4)}`` registers a device's streams.
    ``initializer`` runs once at the start of each worker thread, as in
    ``concurrent.futures`` (say, a library's per-thread thread count); if it raises, the
    constructor shuts the executor down and raises.
    """

    def __init__(
        self,
        workers: int | None = None,
        devices: Mapping[str, StreamPool] | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(workers, devices, initializer)

    # -- graph runs ---------------------------------------------------------------------

    def run(self, taskflow: Taskflow, callback: Callable[[], object] | None = None) -> RunFuture:
        """Run ``taskflow`` once; ``callback()`` runs when it ends. Returns a future."""
        return self.run_n(taskflow, 1, callback)

    def run_n(
        self, taskflow: Taskflow, n: int, callback: Callable[[], object] | None = None
    ) -> RunFuture:
        """Run ``taskflow`` ``n`` times in a row."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"run_n needs a count >= 0, got {n!r}")
        count = [0]

        def enough() -> bool:
            if count[0] >= n:
                return True
            count[0] += 1
            return False

        return self.run_until(taskflow, enough, callback)

    def run_until(
        self,
        taskflow: Taskflow,
        predicate: Callable[[], bool],
        callback: Callable[[], object] | None = None,
    ) -> RunFuture:
        """Run ``taskflow`` again and again until ``predicate()`` is true.

        The predicate is checked before the first iteration and after each one.
        """
        if not isinstance(taskflow, Taskflow):
            raise TypeError(f"Executor runs Taskflow objects, not {taskflow!r}")
        self._check_open()
        run = Run(self, taskflow._graph, predicate, callback)
        run.future = RunFuture(partial(self._cancel, run), partial(self._cooperate_run, run))
        with self._lock:
            self._runs.add(run)
            if run.graph.busy:
                run.graph.waiting.append(run)
                return run.future
            run.graph.busy = True
        self._begin(run)
        return run.future

    def corun(self, taskflow: Taskflow) -> None:
        """Run ``taskflow`` and wait for it; inside a task, the worker runs other tasks
        while it waits (no deadlock with one worker). Raises what the run raises.

        Example::

            tf.emplace(lambda: executor.corun(inner))    # a task that runs a whole graph
        """
        self.run(taskflow).result()

    def corun_until(self, predicate: Callable[[], bool]) -> None:
        """Inside a task: run other tasks on this worker until ``predicate()`` is true."""
        if not self.cooperate(predicate):
            raise RuntimeError(
                "corun_until() works inside a task of this executor; elsewhere, wait on "
                "a future (run(...).result())"
            )

    # -- async tasks --------------------------------------------------------------------

    def async_(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> AsyncFuture[T]:
        """Run ``fn(*args, **kwargs)`` on a worker; its future gives the result.

        Example::

            futures = [executor.async_(pow, 2, i) for i in range(10)]
            [f.result() for f in futures]
        """
        if self._shutdown:
            self._check_open()
        future = AsyncFuture(self._cooperate, fn, args, kwargs)
        self._pending.append(None)
        self._queue.append((future, None))
        if self._sleepers:
            self._wake_up(1)
        return future

    submit = async_

    def silent_async(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Run ``fn(*args, **kwargs)`` on a worker, without a future (cheaper); an
        exception it raises is raised by the next ``wait_for_all()``."""
        if self._shutdown:
            self._check_open()
        self._pending.append(None)
        self._queue.append((AsyncFuture(None, fn, args, kwargs), None))
        if self._sleepers:
            self._wake_up(1)

    def dependent_async(
        self, fn: Callable[[], T], *after: AsyncTask[object], name: str | None = None
    ) -> tuple[AsyncTask[T], AsyncFuture[T]]:
        """Run ``fn()`` once every task in ``after`` has run; returns its handle (for
        later calls' ``after``) and its future.

        Example::

            a = executor.silent_dependent_async(load)
            b, future = executor.dependent_async(lambda: parse(), a)
        """
        future = AsyncFuture(self._cooperate, fn)
        return self._dependent(AsyncTask(future, name), after), future

    def silent_dependent_async(
        self, fn: Callable[[], object], *after: AsyncTask[object], name: str | None = None
    ) -> AsyncTask[object]:
        """``dependent_async`` without a future; errors go to the next ``wait_for_all``."""
        return self._dependent(AsyncTask(AsyncFuture(None, fn), name), after)

    def _dependent(self, task: AsyncTask[T], after: tuple[AsyncTask[object], ...]) -> AsyncTask[T]:
        if self._shutdown:
            self._check_open()
        self._pending.append(None)  # before any edge is published: a worker may run it now
        try:
            ready = register(task, after)
        except TypeError:  # raised before any edge is published
            self._pending.pop()
            raise
        if ready:
            self._queue.append((task, None))
            if self._sleepers:
                self._wake_up(1)
        return task

    # -- the executor as a whole --------------------------------------------------------

    def wait_for_all(self) -> None:
        """Block until every run and async task submitted so far has finished; raise the
        first exception of a silent async task since the last call, if any."""
        self._refuse_on_worker("wait_for_all()")
        self._wait_idle()
        if self._silent_errors:
            error, self._silent_errors = self._silent_errors[0], []
            raise error

    def _wait_idle(self) -> None:
        with self._lock:
            self._waiters += 1
            try:
                while self._runs or self._pending:
                    self._all_done.wait()
            finally:
                self._waiters -= 1

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
        self._refuse_on_worker("shutdown()")
        self._wait_idle()
        self._stop_threads()

    def _check_open(self) -> None:
        if self._shutdown:
            raise RuntimeError(f"{self!r} was shut down; create a new Executor")

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.num_workers})"
