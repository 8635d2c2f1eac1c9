"""Taskflow-style task graphs and the executors that run them (pure Python, no numpy).

Example::

    from tfnn.executor import Taskflow, Executor
    tf = Taskflow("hello")
    a, b, c = tf.emplace(lambda: print("A"), lambda: print("B"), lambda: print("C"))
    a.precede(b, c)                       # B and C run after A, possibly in parallel
    with Executor(workers=2) as ex:
        ex.run(tf).result()
"""

from tfnn.executor.algorithms import Result
from tfnn.executor.executor import Executor, SyncExecutor
from tfnn.executor.future import CancelledError, RunFuture, TaskError
from tfnn.executor.graph import GraphError, Kind, Subflow, Task, Taskflow
from tfnn.executor.observer import Observer, TraceObserver
from tfnn.executor.partitioner import (
    DynamicPartitioner,
    GuidedPartitioner,
    Partitioner,
    StaticPartitioner,
)
from tfnn.executor.pipeline import Pipe, Pipeflow, Pipeline, PipeType

__all__ = [
    "CancelledError",
    "DynamicPartitioner",
    "Executor",
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
    "StaticPartitioner",
    "Subflow",
    "SyncExecutor",
    "Task",
    "TaskError",
    "Taskflow",
    "TraceObserver",
]
