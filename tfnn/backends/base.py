"""The backend protocol: one small interface that every array library sits behind.

A backend bundles an array namespace ``xp`` (array-api-compat's wrapped namespace, so
only the array API standard is used), one device, conversions to and from numpy, a
seeded random generator, a pool of streams for the executor, memory information and
synchronisation. Layer math in ``tfnn.nn`` sees only ``xp``.

Streams and events are duck-typed so that ``tfnn.executor`` never imports a backend:

- ``Stream.launch(fn)`` runs ``fn`` on the host with this stream (and its device)
  current, so the kernels ``fn`` issues are enqueued on the stream; it returns what
  ``fn`` returns. On an eager backend the work is done when ``launch`` returns.
- ``Stream.record()`` returns an ``Event`` that completes when all work launched so far
  on the stream has completed; ``Stream.wait(event)`` orders later work on the stream
  after ``event`` without blocking the host where the device can do that.
- ``Stream.keep_alive(obj, event)`` holds a reference to ``obj`` until ``event`` has
  completed, so memory read by another stream is not reused too early.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

T = TypeVar("T")


class BackendError(RuntimeError):
    """A backend cannot be used as asked; the message says what to do."""


class Generator(Protocol):
    """A seeded random generator that creates arrays on its backend's device."""

    def normal(self, shape: tuple[int, ...], dtype: Any = None) -> Any: ...
    def uniform(
        self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0, dtype: Any = None
    ) -> Any: ...
    def permutation(self, n: int) -> Any: ...


class Event(Protocol):
    """A point in a stream's work; complete once everything before it has run."""

    def synchronize(self) -> None: ...
    def query(self) -> bool: ...


class Stream(Protocol):
    """An ordered queue of device work (see the module docstring)."""

    def launch(self, fn: Callable[[], T]) -> T: ...
    def record(self) -> Event: ...
    def wait(self, event: Event) -> None: ...
    def keep_alive(self, obj: Any, event: Event) -> None: ...
    def synchronize(self) -> None: ...


class StreamPool(Protocol):
    """A few streams of one device; independent tasks go to different streams."""

    streams: list[Any]


class MemoryInfo(NamedTuple):
    """Free and total device memory in bytes."""

    free: int
    total: int


@dataclass(frozen=True)
class DeviceInfo:
    """One device of a backend as ``tfnn info`` shows it; ``memory`` is None on the host."""

    device: str
    name: str
    memory: MemoryInfo | None = None


@dataclass(frozen=True)
class BackendInfo:
    """What ``tfnn info`` shows for one backend; ``reason`` is None when it is usable."""

    name: str
    reason: str | None
    version: str | None = None
    devices: tuple[DeviceInfo, ...] = ()

    @property
    def usable(self) -> bool:
        return self.reason is None


class Backend(Protocol):
    """What ``tfnn`` needs of an array library.

    Example::

        be = get_backend("numpy")
        a = be.asarray([[1.0, 2.0]], dtype=be.xp.float32)
        be.to_numpy(be.xp.sum(a))
    """

    name: str
    device: str
    xp: Any

    def asarray(self, x: Any, dtype: Any = None) -> Any: ...
    def to_numpy(self, a: Any) -> Any: ...
    def rng(self, seed: int) -> Generator: ...
    def stream_pool(self, size: int = 4) -> StreamPool: ...
    def memory_info(self) -> MemoryInfo | None: ...
    def synchronize(self) -> None: ...
    def limit_threads(self, threads: int) -> int:
        """Cap the calling thread's intra-op threads at ``threads`` (torch on the CPU, whose
        OpenMP setting is per thread); return the previous cap so it can be restored. Other
        backends return ``threads`` and change nothing (numpy's BLAS is capped process-wide
        with threadpoolctl)."""
        ...
