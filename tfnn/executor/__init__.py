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

from tfnn.executor.algorithms import Result
from tfnn.executor.asyncs import AsyncTask
from tfnn.executor.executor import MAX_WORKERS, Executor
from tfnn.executor.future import AsyncFuture, CancelledError, RunFuture, TaskError
from tfnn.executor.graph import FlowBuilder, Taskflow
from tfnn.executor.observer import Observer, TraceObserver
from tfnn.executor.partitioner import (
    DynamicPartitioner,
    GuidedPartitioner,
    Partitioner,
    StaticPartitioner,
)
from tfnn.executor.pipeline import Pipe, Pipeflow, Pipeline, PipeType
from tfnn.executor.semaphore import Semaphore
from tfnn.executor.subflow import Subflow
from tfnn.executor.sync import SyncExecutor
from tfnn.executor.task import GraphError, Kind, Task

__all__ = [
    "MAX_WORKERS",
    "AsyncFuture",
    "AsyncTask",
    "CancelledError",
    "DynamicPartitioner",
    "Executor",
    "FlowBuilder",
    "GraphError",
    "GuidedPartitioner",
    "Kind",
    "Observer",
    "Partitioner",
    "Pipe",
    "PipeType",
    "Pipeflow",
    "Pipeline",
    "Result",
    "RunFuture",
    "Semaphore",
    "StaticPartitioner",
    "Subflow",
    "SyncExecutor",
    "Task",
    "TaskError",
    "Taskflow",
    "TraceObserver",
]
