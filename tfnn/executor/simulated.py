"""A simulated asynchronous device: streams are FIFO threads, events are thread events.

It implements the stream-pool protocol of ``tfnn.executor.streams`` on the CPU so that
CI, which has no GPU, tests the ordering rules that CUDA streams impose:

- ``launch(fn)`` returns at once; ``fn`` runs later on the stream's thread, after a
  random small delay, in launch order (a stream is FIFO);
- ``record()`` enqueues an event that completes when the stream reaches it;
- ``wait(event)`` enqueues a barrier: the stream's later work runs after ``event``;
- an exception in ``fn`` is kept by the stream: every event recorded after it carries
  it, and ``event.synchronize()`` / ``stream.synchronize()`` raise it (CUDA's errors
  are sticky too); ``synchronize`` clears it so the device is reusable.

State per stream: a ``queue.SimpleQueue`` of callables, the thread that drains it, the
first pending error, and counters of launches and waits for tests.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any

_STOP = object()


class SimulatedEvent:
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


class Handle:
    """What ``launch`` returns: ``value`` is set once the work has run on the stream."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None


class SimulatedStream:
    """One FIFO stream with its own thread; see the module docstring."""

    # launch() returns before fn runs, so what fn hands to hold() is known only later.
    runs_later = True

    def __init__(self, name: str, max_delay: float, seed: int) -> None:
        self.name = name
        self.launches = 0
        self.waits = 0
        self._max_delay = max_delay
        self._random = random.Random(seed)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._held: list[tuple[SimulatedEvent, Any]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, name=name, daemon=True)
        self._thread.start()

    def launch(self, fn: Callable[[], Any]) -> Handle:
        self.launches += 1
        handle = Handle()
        delay = self._random.uniform(0.0, self._max_delay)

        def work() -> None:
            if delay:
                time.sleep(delay)
            handle.value = fn()

        self._queue.put(work)
        return handle

    def record(self) -> SimulatedEvent:
        event = SimulatedEvent()
        self._queue.put(event)
        return event

    def wait(self, event: Any) -> None:
        self.waits += 1

        def barrier() -> None:
            try:
                event.synchronize()
            except BaseException as e:
                if self._error is None:
                    self._error = e

        self._queue.put(barrier)

    def keep_alive(self, obj: Any, event: Any) -> None:
        with self._lock:
            self._held = [(e, o) for e, o in self._held if not e.query()]
            self._held.append((event, obj))

    @property
    def held(self) -> int:
        """How many kept-alive objects still wait for their event (empty lists not counted:
        a task that handed nothing to ``hold`` leaves one)."""
        with self._lock:
            self._held = [(e, o) for e, o in self._held if not e.query()]
            return sum(1 for _, o in self._held if not (isinstance(o, list) and not o))

    def synchronize(self) -> None:
        event = self.record()
        event._done.wait()
        with self._lock:
            self._held = []
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
            if isinstance(item, SimulatedEvent):
                item.error = self._error
                item._done.set()
                continue
            if self._error is not None:
                continue  # like a CUDA stream after a fault: later work does not run
            try:
                item()
            except BaseException as e:
                self._error = e


class SimulatedDevice:
    """A stream pool of ``streams`` simulated streams (default 4).

    Example::

        device = SimulatedDevice(streams=2, max_delay=0.001)
        with Executor(workers=2, devices={"sim:0": device}) as ex:
            ...                        # tasks with device="sim:0" run on its streams
        device.close()
    """

    def __init__(self, streams: int = 4, max_delay: float = 0.0005, seed: int = 0) -> None:
        if not isinstance(streams, int) or streams < 1:
            raise ValueError(f"a simulated device needs streams >= 1, got {streams!r}")
        self.streams = [
            SimulatedStream(f"sim-stream-{i}", max_delay, seed + i) for i in range(streams)
        ]

    def synchronize(self) -> None:
        for s in self.streams:
            s.synchronize()

    def close(self) -> None:
        for s in self.streams:
            s.close()

    def __enter__(self) -> SimulatedDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
