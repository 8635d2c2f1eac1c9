"""The futures that runs and async tasks return, and the error that names the failing task.

Waiting on a future from inside a task of the same executor would block a worker that
may be the one that has to run what it waits for (with one worker, a deadlock). Such a
wait is cooperative instead: the worker runs other queued tasks until the future is
done (``Executor.corun_until``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Generic, TypeVar

__all__ = ["AsyncFuture", "CancelledError", "RunFuture", "TaskError"]

T = TypeVar("T", covariant=True)

Cooperate = Callable[[Callable[[], bool], float | None], bool]
"""``cooperate(done, timeout)``: on a worker of the executor, run tasks until ``done()``
and return True; elsewhere return False at once. Raises TimeoutError after ``timeout``."""

# One lock for creating the rarely needed events of async futures (see AsyncFuture).
_event_lock = threading.Lock()


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

    __slots__ = ("_cancel", "_cooperate", "_done", "_error")

    def __init__(self, cancel: Callable[[], bool], cooperate: Cooperate | None = None) -> None:
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._cancel = cancel
        self._cooperate = cooperate

    def result(self, timeout: float | None = None) -> None:
        self._wait(timeout)
        if self._error is not None:
            raise self._error

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._wait(timeout)
        return self._error

    def wait(self, timeout: float | None = None) -> bool:
        try:
            self._wait(timeout)
        except TimeoutError:
            return False
        return True

    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> bool:
        """Ask the run to stop; False when it had already finished."""
        if self._done.is_set():
            return False
        return self._cancel()

    def _wait(self, timeout: float | None) -> None:
        if self._done.is_set():
            return
        if self._cooperate is not None and self._cooperate(self._done.is_set, timeout):
            return
        if not self._done.wait(timeout):
            raise TimeoutError(f"run not finished after {timeout} s")

    def _set(self, error: BaseException | None) -> None:
        self._error = error
        self._done.set()


_PENDING, _VALUE, _ERROR = 0, 1, 2


class AsyncFuture(Generic[T]):
    """The result of ``executor.async_(fn, *args)``: ``result()`` returns ``fn``'s value
    or raises its exception, as ``concurrent.futures.Future`` does.

    It is also the work item itself (``_call``: ``fn`` and its arguments), so an async
    task costs one small object. ``_state`` is pending, value or error, and ``_value``
    holds the value or the exception. A silent task's future, which nobody sees, has no
    ``_cooperate``. No event is made unless someone waits before it is done: the
    finisher sets ``_state`` then reads ``_event``; a waiter makes ``_event`` then reads
    ``_state``; under the GIL one of them sees the other's write, so no wake-up is lost.

    Example::

        future = executor.async_(pow, 2, 10)
        future.result()      # 1024
    """

    __slots__ = ("_call", "_cooperate", "_event", "_state", "_value")

    def __init__(
        self,
        cooperate: Cooperate | None,
        fn: Callable[..., T],
        args: tuple[object, ...] = (),
        kwargs: dict[str, object] | None = None,
    ) -> None:
        self._cooperate = cooperate
        self._call: tuple[Callable[..., T], tuple[object, ...], dict[str, object] | None] | None
        self._call = (fn, args, kwargs)
        self._state = _PENDING
        self._value: T | BaseException | None = None
        self._event: threading.Event | None = None

    def result(self, timeout: float | None = None) -> T:
        if self._state is _PENDING:
            self._wait(timeout)
        if self._state is _ERROR:
            assert isinstance(self._value, BaseException)
            raise self._value
        return self._value  # type: ignore[return-value]  # a value when the state says so

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state is _PENDING:
            self._wait(timeout)
        return self._value if isinstance(self._value, BaseException) else None

    def done(self) -> bool:
        return self._state is not _PENDING

    def _execute(self) -> BaseException | None:
        """Run the call once; the exception it raised, if any."""
        call, self._call = self._call, None  # let go of what the call held
        assert call is not None
        fn, args, kwargs = call
        try:
            self._value = fn(*args, **kwargs) if kwargs else fn(*args)
            self._state = _VALUE
            error = None
        except BaseException as e:
            self._value = error = e
            self._state = _ERROR
        event = self._event
        if event is not None:
            event.set()
        return error

    def _wait(self, timeout: float | None) -> None:
        if self._cooperate is not None and self._cooperate(self.done, timeout):
            return
        with _event_lock:
            if self._event is None:
                self._event = threading.Event()
        if self._state is _PENDING and not self._event.wait(timeout):
            raise TimeoutError(f"async task not finished after {timeout} s")

    def __repr__(self) -> str:
        return f"AsyncFuture({'pending' if self._state is _PENDING else 'done'})"
