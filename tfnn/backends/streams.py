"""Stream pieces shared by the backends: the immediate pool, the keep-alive ledger and
the CUDA stream behaviour cupy and torch share.

Eager backends (numpy, array_api_strict, torch on the CPU) compute inside ``launch``,
so their events are complete when recorded and waiting on one of their own events costs
nothing; waiting on another backend's event (a GPU result read on the CPU) blocks the
host until that event completes.

``KeepAlive`` state: a list of ``(event, obj)`` pairs under a lock. Each call to
``hold`` or ``release_done`` first drops the pairs whose event reports completion, so
references are released lazily, without a thread of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tfnn.backends.base import BackendError, Event

T = TypeVar("T")


class KeepAlive:
    """References held until their event completes.

    Example::

        ledger = KeepAlive()
        ledger.hold(x, stream.record())   # x lives at least until that event is done
        len(ledger)                       # pairs still held after dropping finished ones
    """

    def __init__(self) -> None:
        self._held: list[tuple[Event, Any]] = []
        self._lock = threading.Lock()

    def hold(self, obj: Any, event: Event) -> None:
        with self._lock:
            self._drop_done()
            self._held.append((event, obj))

    def release_done(self) -> None:
        with self._lock:
            self._drop_done()

    def __len__(self) -> int:
        self.release_done()
        return len(self._held)

    def _drop_done(self) -> None:
        self._held = [(event, obj) for event, obj in self._held if not event.query()]


class ImmediateEvent:
    """An event of an eager backend: complete from the start."""

    def synchronize(self) -> None:
        """Nothing to wait for."""

    def query(self) -> bool:
        return True


_DONE = ImmediateEvent()


class ImmediateStream:
    """A stream of an eager backend: ``launch`` runs ``fn`` at once, on the calling thread.

    Example::

        stream = get_backend("numpy").stream_pool().streams[0]
        y = stream.launch(lambda: x * 2)
        stream.record().query()   # True
    """

    def __init__(self) -> None:
        self._alive = KeepAlive()

    def launch(self, fn: Callable[[], T]) -> T:
        return fn()

    def record(self) -> ImmediateEvent:
        return _DONE

    def wait(self, event: Event) -> None:
        # Work launched here runs now, on the host, so a foreign event (say a cupy result
        # this CPU task reads) must be complete before launch is called again.
        event.synchronize()

    def keep_alive(self, obj: Any, event: Event) -> None:
        self._alive.hold(obj, event)

    def synchronize(self) -> None:
        self._alive.release_done()


class CudaStream:
    """What a CUDA stream of cupy and of torch share: device-side waits, keep-alive, sync.

    Subclasses set ``raw`` (the library's stream, with ``wait_event`` and
    ``synchronize``), implement ``launch`` and ``record``, and ``native(event)``: the
    library's own event behind one of their events, or None for a foreign event (another
    backend's, or a CPU one), which the host waits for instead.
    """

    raw: Any

    def __init__(self) -> None:
        self._alive = KeepAlive()

    def native(self, event: Event) -> Any | None:
        raise NotImplementedError

    def wait(self, event: Event) -> None:
        raw_event = self.native(event)
        if raw_event is None:
            event.synchronize()
        else:
            self.raw.wait_event(raw_event)

    def keep_alive(self, obj: Any, event: Event) -> None:
        self._alive.hold(obj, event)

    def synchronize(self) -> None:
        self.raw.synchronize()
        self._alive.release_done()


class ImmediateStreamPool:
    """``size`` immediate streams; see ``ImmediateStream``."""

    def __init__(self, size: int = 4) -> None:
        self.streams = [ImmediateStream() for _ in range(check_pool_size(size))]


def check_pool_size(size: int) -> int:
    """Return ``size`` if it is a usable number of streams, else raise BackendError."""
    if not isinstance(size, int) or size < 1:
        raise BackendError(f"a stream pool needs a whole number of streams >= 1, not {size!r}")
    return size
