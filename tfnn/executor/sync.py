"""``SyncExecutor``: the reference executor, the same scheduler run on the calling thread.

It has no threads: ``run`` and the async calls queue work as ``Executor`` does, then the
calling thread drains the queue before returning (``_drain``), so every future it
returns is done, unless the work waits for something that has not been submitted. Inside
one of its tasks, new work is only queued: the drain that runs the task runs it next,
in the same order as ``Executor(workers=1)``, which makes it the oracle for tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import ParamSpec, TypeVar

from tfnn.executor.asyncs import AsyncTask
from tfnn.executor.executor import Executor
from tfnn.executor.future import AsyncFuture, RunFuture
from tfnn.executor.graph import Taskflow
from tfnn.executor.lifecycle import StreamPool

__all__ = ["SyncExecutor"]

P = ParamSpec("P")
T = TypeVar("T")


class SyncExecutor(Executor):
    """The reference executor: the same transitions, run on the calling thread.

    Example::

        SyncExecutor().run(tf).result()    # done when run() returns
    """

    def __init__(self, devices: Mapping[str, StreamPool] | None = None) -> None:
        super().__init__(workers=1, devices=devices)

    def _thread_count(self) -> int:
        return 0

    def run_until(
        self,
        taskflow: Taskflow,
        predicate: Callable[[], bool],
        callback: Callable[[], object] | None = None,
    ) -> RunFuture:
        future = super().run_until(taskflow, predicate, callback)
        self._drain()
        return future

    def async_(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> AsyncFuture[T]:
        future = super().async_(fn, *args, **kwargs)
        self._drain()
        return future

    submit = async_

    def silent_async(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> None:
        super().silent_async(fn, *args, **kwargs)
        self._drain()

    def _dependent(self, task: AsyncTask[T], after: tuple[AsyncTask[object], ...]) -> AsyncTask[T]:
        super()._dependent(task, after)
        self._drain()
        return task

    def _drain(self) -> None:
        """Run the queue empty on this thread, unless this thread drains it already."""
        ident = threading.get_ident()
        if ident in self._workers:
            return
        self._workers[ident] = 0
        try:
            while self._queue:
                item, topo = self._queue.popleft()
                try:
                    self._run_item(item, topo, 0)
                except BaseException as e:
                    self._report(item, topo, e)
        finally:
            del self._workers[ident]

    def _wait_for_work(self, worker: int) -> None:
        raise RuntimeError(
            "SyncExecutor: a task waits for work that nothing left in the queue can finish "
            "(it would wait forever); use Executor(workers=N) for work that waits on "
            "other threads"
        )

    def shutdown(self) -> None:
        self._refuse_on_worker("shutdown()")
        self._shutdown = True
