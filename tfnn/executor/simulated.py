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

State per stream: that of ``tfnn.executor.fifo.FifoStream`` (the queue, its thread, the
first pending error, the launch count), plus its delay generator and a count of waits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from tfnn.executor.fifo import FifoEvent, FifoStream

# The events are the FIFO stream's own; the name stays for readers of this module.
SimulatedEvent = FifoEvent


class Handle:
    """What ``launch`` returns: ``value`` is set once the work has run on the stream."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None


class SimulatedStream(FifoStream):
    """One FIFO stream with its own thread (``tfnn.executor.fifo``) that delays each
    launch by a random small time; see the module docstring."""

    # launch() returns before fn runs, so what fn hands to hold() is known only later.
    runs_later = True

    def __init__(self, name: str, max_delay: float, seed: int) -> None:
        self.waits = 0
        self._max_delay = max_delay
        self._random = random.Random(seed)
        super().__init__(name)

    def launch(self, fn: Callable[[], Any]) -> Handle:
        handle = Handle()
        delay = self._random.uniform(0.0, self._max_delay)

        def work() -> None:
            if delay:
                time.sleep(delay)
            handle.value = fn()

        self._enqueue(work)
        return handle

    def wait(self, event: Any) -> None:
        self.waits += 1
        super().wait(event)

    @property
    def held(self) -> int:
        """How many kept-alive objects still wait for their event (empty lists not counted:
        a task that handed nothing to ``hold`` leaves one)."""
        with self._lock:
            self._prune_held()
            return sum(1 for _, o in self._held if not (isinstance(o, list) and not o))

    def _release_held_after_sync(self) -> None:
        # Once this stream is idle, everything it kept alive is let go of.
        self._held = []


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
