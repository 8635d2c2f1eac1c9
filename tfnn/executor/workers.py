"""Worker threads and the shared ready queue: the part of the executor that knows threads.

State.

- ``_queue``: a FIFO deque of ``(item, topology)``: a graph task and the topology it runs
  in, or an async item (``AsyncFuture`` / ``AsyncTask``) and None;
- ``_parking[worker]``: a lock its worker holds while awake; ``_sleepers``: the parking
  locks of the workers asleep (or about to be);
- ``_workers``: thread id -> worker index, for the threads that run tasks now (the
  pool's threads; ``SyncExecutor``'s caller while it drives the queue);
- ``_current[worker]``: the run whose task that worker executes, to refuse waits on a
  run that could only start after it (see ``Scheduler._cooperate_run``).

Sleeping and waking take no lock of the executor's: a worker going to sleep appends its
parking lock to ``_sleepers``, re-checks the queue, and blocks acquiring its own lock; a
pusher appends to the queue, then pops a parking lock from ``_sleepers`` and releases it.
Under the GIL one of them sees the other's append, so no push is missed; a worker that
changes its mind removes its entry, or, if a pusher took it already, takes that release.
So the hot path takes no lock at all (measured on 2 cores: one lock per task made two
workers convoy, 1 to 7 us per task on a fan-out; a Condition's notify per async task
cost more than the task). ``cooperate`` lets a task that waits (a ``join()``, a
future's ``result()``, ``corun``) run queued items meanwhile instead of
blocking its worker. Whatever escapes an item, a worker reports it and lives on.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tfnn.executor.runs import Item, Run, Topology

MAX_WORKERS = 1024
"""More threads than this only add switching: Python runs one of them at a time."""

# How long a cooperating waiter sleeps when the queue is empty and what it waits for runs
# elsewhere; nothing wakes it when that finishes, so it polls.
_POLL_S = 0.0005


class WorkerPool:
    """Threads that pop ``(item, topology)`` pairs and hand them to ``_run_item``."""

    def __init__(self, workers: int | None, initializer: Callable[[], object] | None) -> None:
        if workers is None:
            workers = os.cpu_count() or 1
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"Executor needs workers >= 1, got {workers!r}")
        if workers > MAX_WORKERS:
            raise ValueError(
                f"Executor(workers={workers}) asks for more threads than are useful; use "
                f"at most {MAX_WORKERS} (this machine has {os.cpu_count()} CPUs: "
                "workers=None picks that number)"
            )
        self.num_workers = workers
        self._queue: deque[tuple[Item, Topology | None]] = deque()
        self._lock = threading.Lock()
        self._parking = [threading.Lock() for _ in range(workers)]
        self._sleepers: list[threading.Lock] = []
        self._shutdown = False
        self._workers: dict[int, int] = {}
        self._current: list[Run | None] = [None] * workers
        self._initializer = initializer
        self._cooperate = self.cooperate  # bound once: async_ hands it to every future
        self._threads = [
            threading.Thread(
                target=self._worker_loop, args=(i,), name=f"tfnn-worker-{i}", daemon=True
            )
            for i in range(self._thread_count())
        ]
        self._initialized = threading.Barrier(len(self._threads) + 1)
        self._init_errors: list[BaseException] = []
        for t in self._threads:
            t.start()
        if initializer is not None:
            self._initialized.wait()
            if self._init_errors:
                self._stop_threads()
                raise RuntimeError(
                    f"the executor's worker initializer {initializer!r} failed: "
                    f"{self._init_errors[0]!r}"
                ) from self._init_errors[0]

    def _thread_count(self) -> int:
        return self.num_workers

    def this_worker_id(self) -> int:
        """The index of the worker running the calling thread's task, or -1 off it.

        Example::

            tf.emplace(lambda: print(executor.this_worker_id()))   # 0 .. workers - 1
        """
        return self._workers.get(threading.get_ident(), -1)

    def _run_item(self, item: Item, topo: Topology | None, worker: int) -> None:
        raise NotImplementedError

    def _report(self, item: Item, topo: Topology | None, error: BaseException) -> None:
        """Something escaped ``_run_item``: an executor bug. Fail what it belongs to."""
        raise NotImplementedError

    def _worker_loop(self, worker: int) -> None:
        self._workers[threading.get_ident()] = worker
        park = self._parking[worker]
        park.acquire()
        if self._initializer is not None:
            try:
                self._initializer()
            except BaseException as e:
                self._init_errors.append(e)
            self._initialized.wait()
        queue = self._queue
        while True:
            try:
                item, topo = queue.popleft()
            except IndexError:
                if self._shutdown:
                    return
                self._sleep(park, -1)
                continue
            try:
                self._run_item(item, topo, worker)
            except BaseException as e:
                self._report(item, topo, e)

    def _sleep(self, park: threading.Lock, timeout: float) -> None:
        """Block until a pusher wakes this worker (or ``timeout`` s pass; -1: no limit)."""
        self._sleepers.append(park)
        if self._queue or self._shutdown or not park.acquire(timeout=timeout):
            try:
                self._sleepers.remove(park)
            except ValueError:
                park.acquire()  # a pusher took the entry: take the release it gives

    def _enqueue(self, items: Iterable[tuple[Item, Topology | None]], count: int) -> None:
        self._queue.extend(items)
        if self._sleepers:
            self._wake_up(count)

    def _wake_up(self, count: int) -> None:
        sleepers = self._sleepers
        for _ in range(count):
            try:
                sleepers.pop().release()
            except IndexError:
                return

    def cooperate(self, done: Callable[[], bool], timeout: float | None = None) -> bool:
        """On a worker of this executor: run queued items until ``done()``, then True.
        Off the executor: False at once (the caller blocks instead)."""
        worker = self._workers.get(threading.get_ident())
        if worker is None:
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        saved = self._current[worker]
        try:
            self._drain_until(done, worker, deadline)
        finally:
            self._current[worker] = saved
        return True

    def _drain_until(self, done: Callable[[], bool], worker: int, deadline: float | None) -> None:
        queue = self._queue
        while not done():
            try:
                item, topo = queue.popleft()
            except IndexError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError("not finished before the timeout") from None
                self._wait_for_work(worker)
                continue
            try:
                self._run_item(item, topo, worker)
            except BaseException as e:
                self._report(item, topo, e)

    def _wait_for_work(self, worker: int) -> None:
        self._sleep(self._parking[worker], _POLL_S)

    def _refuse_on_worker(self, what: str) -> None:
        if threading.get_ident() in self._workers:
            raise RuntimeError(
                f"{what} called from inside a task of {self!r} would wait for that task "
                "itself; call it from the thread that owns the executor (inside a task, "
                "use executor.corun(taskflow) or executor.corun_until(predicate))"
            )

    def _stop_threads(self) -> None:
        self._shutdown = True
        self._wake_up(len(self._parking))
        for t in self._threads:
            t.join()
