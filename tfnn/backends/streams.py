"""Stream pieces shared by the backends: the immediate pool, the keep-alive ledger, and
what cupy's and torch's CUDA streams share (device-side waits, pooled events, the order
of host work before pool work, one pool per device and size).

Eager backends (numpy, array_api_strict, torch on the CPU) compute inside ``launch``,
so their events are complete when recorded and waiting on one of their own events costs
nothing; waiting on another backend's event (a GPU result read on the CPU) blocks the
host until that event completes.

``KeepAlive`` state: a deque of ``(event, obj)`` pairs under a lock. Each call to
``hold`` or ``release_done`` first drops the pairs whose event reports completion, so
references are released lazily, without a thread of their own.

Pooled events: a CUDA stream records one event per device task. ``PooledEvent`` wraps the
library's event and hands it back to its stream's free list when the wrapper is garbage
(no task, successor or ledger holds it any more), and ``record`` takes from that list
first. Reusing it then is safe: CUDA captures an event's state when ``wait_event`` is
called, so a later ``record`` does not change waits already enqueued.

Host work (``HostOrder``): arrays a backend makes outside ``launch`` (``asarray``, the
rng, parameter initialisation, the first batch that ``prefetch-first`` loads) are written
by the calling thread's current stream: the legacy default stream, cupy's per-thread
default stream (``CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1``) or a user's stream, which a
pool stream does not follow by itself (torch's pool streams are non-blocking; cupy's are
blocking, which orders them after the legacy default stream only). So the backend calls
``made()`` after such work: it re-records that host stream's one event and bumps a
version; a pool stream's ``launch`` compares versions (one integer compare when nothing
new was made) and waits, on the device, for the host streams' events it has not waited
for yet. ``Backend.limit_threads`` (called on every thread that runs tasks when a fit
starts) calls ``made()`` too, which covers arrays made with ``xp`` directly (a bias's
``zeros``) before the fit.

State of ``HostOrder``: ``version`` (bumped by every ``made``), ``latest`` (host stream
key -> (version, its event)), a lock around both, and a thread-local flag that is set
while a thread is inside a pool stream's ``launch`` (work made there is the stream's own).
"""

from __future__ import annotations

import threading
from collections import deque
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
        self._held: deque[tuple[Event, Any]] = deque()
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
        # Events of one stream complete in the order they were recorded: stop at the
        # first one still pending.
        held = self._held
        while held and held[0][0].query():
            held.popleft()


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


class PooledEvent:
    """A library event on loan from its stream's free list (see the module docstring)."""

    __slots__ = ("_free", "raw")

    def __init__(self, raw: Any, free: list[Any]) -> None:
        self.raw = raw
        self._free = free

    def synchronize(self) -> None:
        self.raw.synchronize()

    def query(self) -> bool:
        raise NotImplementedError

    def __del__(self) -> None:
        self._free.append(self.raw)  # list.append is atomic: no lock for a finaliser


class HostOrder:
    """Orders host-made work before pool streams' launches (see the module docstring).

    Example::

        order = HostOrder()
        x = make_on_current_stream()
        order.made(key, record)     # record(previous_event_or_None) -> event on that stream
        stream.launch(...)          # a CudaStream sharing ``order`` waits for it first
    """

    def __init__(self) -> None:
        self.version = 0
        self.latest: dict[Any, tuple[int, Any]] = {}
        self._lock = threading.Lock()
        self.local = threading.local()

    def made(self, key: Any, record: Callable[[Any], Any]) -> None:
        """The calling thread enqueued work on host stream ``key``; ``record(event)``
        re-records that stream's event (``event`` is None the first time) and returns it."""
        if getattr(self.local, "inside", False):
            return
        with self._lock:
            previous = self.latest.get(key)
            event = record(None if previous is None else previous[1])
            self.version += 1
            self.latest[key] = (self.version, event)

    def pending(self, seen: int) -> tuple[int, list[Any]]:
        """The current version and the events made after version ``seen``."""
        with self._lock:
            return self.version, [e for v, e in self.latest.values() if v > seen]


class CudaStream:
    """What a CUDA stream of cupy and of torch share: device-side waits, pooled events,
    host-work order, keep-alive, sync.

    Subclasses set ``raw`` (the library's stream, with ``wait_event`` and
    ``synchronize``), implement ``enter(fn)`` (run ``fn`` with the device and this stream
    current), ``new_event()`` and ``record_on(raw_event)`` (record it on this stream) and
    ``native(event)``: the library's own event behind one of their events, or None for a
    foreign event (another backend's, or a CPU one), which the host waits for instead.
    ``event_type`` is the ``PooledEvent`` subclass that wraps their events.
    """

    raw: Any
    event_type: type[PooledEvent] = PooledEvent

    def __init__(self, order: HostOrder) -> None:
        self._alive = KeepAlive()
        self._order = order
        self._seen = 0
        self._free: list[Any] = []

    def enter(self, fn: Callable[[], T]) -> T:
        raise NotImplementedError

    def new_event(self) -> Any:
        raise NotImplementedError

    def record_on(self, raw_event: Any) -> None:
        raise NotImplementedError

    def native(self, event: Event) -> Any | None:
        raise NotImplementedError

    def launch(self, fn: Callable[[], T]) -> T:
        order = self._order
        if order.version != self._seen:
            version, events = order.pending(self._seen)
            for raw_event in events:
                self.raw.wait_event(raw_event)
            # Only after the waits: a second thread launching here meanwhile waits too.
            self._seen = version
        local = order.local
        outer = getattr(local, "inside", False)
        local.inside = True
        try:
            return self.enter(fn)
        finally:
            local.inside = outer

    def record(self) -> PooledEvent:
        try:
            raw_event = self._free.pop()
        except IndexError:
            raw_event = self.new_event()
        self.record_on(raw_event)
        return self.event_type(raw_event, self._free)

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


class PoolCache:
    """One stream pool per (device, size) for the life of the process.

    New streams per fit would strand memory in the per-stream free lists of CuPy's pool
    and pay stream and handle set-up inside every timed run; a pool's streams are only
    ever ordered by events, so two fits (or two executors) can share them.
    """

    def __init__(self) -> None:
        self._pools: dict[tuple[Any, int], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, size: int, make: Callable[[], T]) -> T:
        check_pool_size(size)
        with self._lock:
            pool = self._pools.get((key, size))
            if pool is None:
                pool = self._pools[(key, size)] = make()
            return pool


class ImmediateStreamPool:
    """``size`` immediate streams; see ``ImmediateStream``."""

    def __init__(self, size: int = 4) -> None:
        self.streams = [ImmediateStream() for _ in range(check_pool_size(size))]


def check_pool_size(size: int) -> int:
    """Return ``size`` if it is a usable number of streams, else raise BackendError."""
    if not isinstance(size, int) or size < 1:
        raise BackendError(f"a stream pool needs a whole number of streams >= 1, not {size!r}")
    return size
