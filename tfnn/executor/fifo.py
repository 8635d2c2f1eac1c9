"""A FIFO stream on a thread of its own: the part a simulated GPU stream and the
communicator's stream share.

A stream is a ``queue.SimpleQueue`` drained in order by one daemon thread:

- work items (callables) run one after another, in the order they were queued;
- a ``FifoEvent`` in the queue completes when the thread reaches it and carries the
  stream's pending error, if any;
- ``wait(event)`` queues ``event.synchronize`` as a barrier, so the stream's later work
  runs after ``event`` (an error it raises becomes the stream's error);
- an exception in a work item is kept (sticky, like a CUDA error): the thread skips the
  work queued behind it, events recorded after it carry it, and ``synchronize()`` raises
  it once and clears it so the stream is reusable.

State per stream: the queue, the thread, the first pending error, the count of work items
launched (for tests), and a keep-alive list of (event, object) pairs guarded by a lock.
Subclasses add ``launch`` (what a work item is, and what it returns) on top of
``_enqueue``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()


class FifoEvent:
    """Completes when its stream reaches it; carries the stream's error, if any."""

    __slots__ = ("_done", "error")

    def __init__(self) -> None:
        self._done = threading.Event()
        self.error: BaseException | None = None

    def synchronize(self) -> None:
        self._done.wait()
        if self.error is not None:
            raise self.error

    def query(self) -> bool:
        return self._done.is_set()


class FifoStream:
    """One FIFO stream with its own thread; see the module docstring."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.launches = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._held: list[tuple[FifoEvent, Any]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, name=name, daemon=True)
        self._thread.start()

    def _enqueue(self, work: Callable[[], Any]) -> None:
        """Queue one launched work item (counted in ``launches``)."""
        self.launches += 1
        self._queue.put(work)

    def record(self) -> FifoEvent:
        event = FifoEvent()
        self._queue.put(event)
        return event

    def wait(self, event: Any) -> None:
        # _drain keeps what the barrier raises as the stream's error.
        self._queue.put(event.synchronize)

    def keep_alive(self, obj: Any, event: Any) -> None:
        with self._lock:
            self._prune_held()
            self._held.append((event, obj))

    def _prune_held(self) -> None:
        """Drop the kept-alive objects whose event has completed (caller holds the lock)."""
        self._held = [(e, o) for e, o in self._held if not e.query()]

    def _release_held_after_sync(self) -> None:
        """What ``synchronize`` lets go of once the stream is idle (caller holds the lock)."""
        self._prune_held()

    def synchronize(self) -> None:
        self.record()._done.wait()
        with self._lock:
            self._release_held_after_sync()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, FifoEvent):
                item.error = self._error
                item._done.set()
                continue
            if self._error is not None:
                continue  # like a CUDA stream after a fault: later work does not run
            try:
                item()
            except BaseException as e:
                self._error = e
