"""The future a run returns, and the error that names the failing task."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Any

__all__ = ["CancelledError", "RunFuture", "TaskError"]


class TaskError(RuntimeError):
    """A task raised; ``task`` names it and ``__cause__`` is the original exception.

    Example::

        try:
            executor.run(tf).result()
        except TaskError as e:
            print(e.task, type(e.__cause__))
    """

    def __init__(self, task: str, graph: str, error: BaseException) -> None:
        super().__init__(f"task {task!r} of {graph!r} raised {type(error).__name__}: {error}")
        self.task = task
        self.graph = graph


class RunFuture:
    """Completion of one ``run``/``run_n``/``run_until`` call.

    ``result()`` waits and re-raises a task's failure as ``TaskError`` (or
    ``CancelledError``); ``cancel()`` stops the run cooperatively: running tasks finish,
    no new task starts.
    """

    __slots__ = ("_cancel", "_done", "_error")

    def __init__(self, cancel: Callable[[], bool]) -> None:
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._cancel = cancel

    def result(self, timeout: float | None = None) -> None:
        if not self._done.wait(timeout):
            raise TimeoutError(f"run not finished after {timeout} s")
        if self._error is not None:
            raise self._error

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self._done.wait(timeout):
            raise TimeoutError(f"run not finished after {timeout} s")
        return self._error

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> bool:
        """Ask the run to stop; False when it had already finished."""
        if self._done.is_set():
            return False
        return self._cancel()

    def _set(self, error: BaseException | None) -> Any:
        self._error = error
        self._done.set()
