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

State per stream: that of ``tfnn.executor.fifo.FifoStream`` (the queue of items, the
thread, the first pending error, a keep-alive list of (event, object) pairs), which
both this stream and the simulated device's streams are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfnn.executor.fifo import FifoEvent, FifoStream

COMM_DEVICE = "comm"

# The events are the FIFO stream's own; the name stays for readers of this module.
CommEvent = FifoEvent


class CommStream(FifoStream):
    """The communicator's FIFO stream (``tfnn.executor.fifo``; see the module docstring)."""

    def __init__(self, name: str = "comm-stream") -> None:
        super().__init__(name)

    def launch(self, fn: Callable[[], Any]) -> None:
        self._enqueue(fn)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the stream after the work queued so far; wait for its value.

        Host-side reductions (evaluation counts, the loss) go through here, so every
        collective of a rank is issued from one thread in one order.
        """
        box: list[Any] = []
        self.launch(lambda: box.append(fn()))
        self.synchronize()
        return box[0]


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
