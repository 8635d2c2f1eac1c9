"""The communicator as a device of the executor: one FIFO stream with its own thread.

Allreduce tasks are placed on the device ``COMM_DEVICE`` ("comm"), registered with the
executor as ``CommDevice``, a stream pool of one ``CommStream``. The executor's event
rules (``tfnn.executor.streams``) then order them with the compute tasks, with no MPI in
the executor:

- ``launch(fn)`` queues ``fn`` (an allreduce task's body) and returns at once: the
  worker goes on with the backward pass while the stream's thread waits in MPI's
  blocking collective, which releases the GIL;
- ``record()`` queues an event that completes when the thread reaches it; a successor
  on the host (an update) waits on it, one on a GPU stream too (host wait: a foreign
  event);
- ``wait(event)`` queues a barrier: later collectives start after ``event`` (a weight
  gradient computed on a GPU stream), waited on by this thread, not by a worker;
- an exception in ``fn`` is kept (sticky, like a CUDA error): events recorded after it
  carry it, ``synchronize()`` raises it once and clears it, and the thread skips the
  work queued behind it (those collectives' partners are aborted anyway).

One stream means one order of collectives per rank; the training graph makes that order
the same on every rank (a chain of allreduce tasks), which MPI requires.

State per stream: the ``queue.SimpleQueue`` of items, the thread, the first pending
error, and a keep-alive list of (event, object) pairs.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

COMM_DEVICE = "comm"
_STOP = object()


class CommEvent:
    """Completes when the comm stream reaches it; carries the stream's error, if any."""

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


class CommStream:
    """The communicator's FIFO stream (see the module docstring)."""

    def __init__(self, name: str = "comm-stream") -> None:
        self.name = name
        self.launches = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._held: list[tuple[CommEvent, Any]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, name=name, daemon=True)
        self._thread.start()

    def launch(self, fn: Callable[[], Any]) -> None:
        self.launches += 1
        self._queue.put(fn)

    def record(self) -> CommEvent:
        event = CommEvent()
        self._queue.put(event)
        return event

    def wait(self, event: Any) -> None:
        self._queue.put(event.synchronize)

    def keep_alive(self, obj: Any, event: Any) -> None:
        with self._lock:
            self._held = [(e, o) for e, o in self._held if not e.query()]
            self._held.append((event, obj))

    def synchronize(self) -> None:
        self.record()._done.wait()
        with self._lock:
            self._held = [(e, o) for e, o in self._held if not e.query()]
        error, self._error = self._error, None
        if error is not None:
            raise error

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the stream after the work queued so far; wait for its value.

        Host-side reductions (evaluation counts, the loss) go through here, so every
        collective of a rank is issued from one thread in one order.
        """
        box: list[Any] = []
        self.launch(lambda: box.append(fn()))
        self.synchronize()
        return box[0]

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, CommEvent):
                item.error = self._error
                item._done.set()
                continue
            if self._error is not None:
                continue
            try:
                item()
            except BaseException as e:
                self._error = e


class CommDevice:
    """A stream pool of one ``CommStream``, for ``Executor(devices={COMM_DEVICE: ...})``.

    Example::

        with CommDevice() as comm_device:
            executor = Executor(workers=1, devices={COMM_DEVICE: comm_device})
            ...   # tasks with device=COMM_DEVICE run on its thread, in launch order
    """

    def __init__(self) -> None:
        self.streams = [CommStream()]

    @property
    def stream(self) -> CommStream:
        return self.streams[0]

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> CommDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
