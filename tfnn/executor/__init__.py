"""Taskflow-style task graphs and the executors that run them (pure Python, no numpy).

Example::

    from tfnn.executor import Taskflow, Executor
    tf = Taskflow("hello")
    a, b, c = tf.emplace(lambda: print("A"), lambda: print("B"), lambda: print("C"))
    a.precede(b, c)                       # B and C run after A, possibly in parallel
    with Executor(workers=2) as ex:
        ex.run(tf).result()
        ex.async_(print, "D").result()    # a task without a graph
"""

from tfnn.executor.asyncs import AsyncTask
from tfnn.executor.executor import MAX_WORKERS, Executor
from tfnn.executor.future import AsyncFuture, CancelledError, RunFuture, TaskError
from tfnn.executor.graph import FlowBuilder, Taskflow
from tfnn.executor.observer import Observer, TraceObserver
from tfnn.executor.semaphore import Semaphore
from tfnn.executor.subflow import Subflow
from tfnn.executor.sync import SyncExecutor
from tfnn.executor.task import GraphError, Kind, Task

__all__ = [
    "MAX_WORKERS",
    "AsyncFuture",
    "AsyncTask",
    "CancelledError",
    "Executor",
    "FlowBuilder",
    "GraphError",
    "Kind",
    "Observer",
    "RunFuture",
    "Semaphore",
    "Subflow",
    "SyncExecutor",
    "Task",
    "TaskError",
    "Taskflow",
    "TraceObserver",
]
