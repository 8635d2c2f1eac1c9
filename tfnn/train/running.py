"""Running a strategy: the executor it runs on, thread caps, the trace, and its errors.

``make_executor`` builds the executor of a fit: with one worker the graph runs on the
calling thread (``SyncExecutor``, the same transitions in the same order): a hand-off to a
lone worker thread only adds wake-ups, and torch's OpenMP teams driven from a second
thread run tiny ops several times slower (measured on 2 cores: 2.2 ms against 0.35 ms for
the same 15 small matmuls). A GPU backend's stream pool is registered as its device.

``run_strategy`` caps BLAS threads for the run (threadpoolctl) so that workers x BLAS
threads do not oversubscribe the cores: an oversubscribed OpenBLAS busy-waits and runs
many times slower. torch's intra-op threads are set per thread, so every thread that runs
tasks (the workers, through the executor's ``initializer``, and the calling thread) gets
the same cap (``Backend.limit_threads``), restored on the calling thread at the end. A
task's failure comes back as ``TaskError``; a divergence or a Ctrl-C found inside a task
is re-raised as itself, since it is the run's verdict, not that task's failure.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from tfnn.backends import Backend
from tfnn.executor import Executor, SyncExecutor, TaskError, TraceObserver
from tfnn.train.control import Control, TrainingDiverged
from tfnn.train.graphs import Runner
from tfnn.train.step import StepWork


def make_executor(
    backend: Backend,
    device: str,
    *,
    workers: int,
    streams: int,
    blas_threads: int,
    extra_devices: dict[str, Any] | None = None,
) -> Executor:
    """The executor for a fit on ``backend``, its tasks placed on ``device``; with
    ``extra_devices`` (a data-parallel run's communicator) registered beside it."""
    devices: dict[str, Any] = dict(extra_devices or {})
    if device != "cpu":
        devices[device] = backend.stream_pool(streams)
    if workers == 1:
        return SyncExecutor(devices=devices)
    # Each thread that runs tasks gets the backend's per-thread cap too (torch).
    return Executor(
        workers=workers,
        devices=devices,
        initializer=partial(backend.limit_threads, blas_threads),
    )


def run_strategy(
    runner: Runner,
    work: StepWork,
    control: Control,
    executor: Executor,
    *,
    device: str,
    backend: Backend,
    blas_threads: int,
    trace: Path | None,
    shutdown: bool = True,
) -> None:
    """Run ``runner`` to the end of training on ``executor``; then shut the executor down
    (unless ``shutdown`` is False and the run succeeded: a Trainer keeping its workers)."""
    previous_threads = backend.limit_threads(blas_threads)
    observer = TraceObserver() if trace is not None else None
    if observer is not None:
        executor.observe(observer)
    finished = False
    try:
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            runner(work, control, executor, device)
        finished = True
    except TaskError as e:
        if isinstance(e.__cause__, TrainingDiverged):
            raise e.__cause__ from None
        # Ctrl-C lands inside a task when the graph runs on this thread: it is still
        # the user's interrupt, not that task's failure.
        if isinstance(e.__cause__, KeyboardInterrupt):
            raise KeyboardInterrupt from e
        raise
    except BaseException:
        # Ctrl-C (or any error on this thread): stop the graph now, not at its end.
        executor.cancel_all()
        raise
    finally:
        if shutdown or not finished:
            executor.shutdown()
        backend.limit_threads(previous_threads)
        if observer is not None and trace is not None:
            executor.remove_observer(observer)
            observer.dump(trace)
