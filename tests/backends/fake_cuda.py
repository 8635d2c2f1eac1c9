"""Stand-ins for cupy and torch.cuda that log what a CUDA program would enqueue.

No GPU runs in CI, so the CUDA backends' ordering logic (which stream waits for which
event, which device is current, which events are reused) is checked against these: each
call that CUDA would enqueue or change appends a tuple to ``log``; per-thread state
(current device, current stream) lives in a ``threading.local`` as CUDA's does.
``ptds=True`` models cupy with ``CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1``: a thread's
default stream is its own (handle 2), not the legacy stream (handle 0).
"""

from __future__ import annotations

import itertools
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np


class FakeCuda:
    """The shared state: the log, per-thread current device and stream, counters."""

    def __init__(self, devices: int = 2, ptds: bool = False) -> None:
        self.log: list[tuple] = []
        self.devices = devices
        self.ptds = ptds
        self.local = threading.local()
        self.events_made = 0
        self.ids = itertools.count(100)

    def device(self) -> int:
        return getattr(self.local, "device", 0)

    def current_stream(self) -> Any:
        return getattr(self.local, "stream", None) or self.default_stream()

    def default_stream(self) -> Any:
        return FakeStream(self, ptr=2 if self.ptds else 0)


class FakeStream:
    def __init__(self, cuda: FakeCuda, ptr: int | None = None, non_blocking: bool = False):
        self.cuda = cuda
        self.ptr = next(cuda.ids) if ptr is None else ptr
        self.cuda_stream = self.ptr
        self.device_id = cuda.device()
        self.non_blocking = non_blocking

    def use(self) -> FakeStream:
        self.cuda.local.stream = None if self.ptr in (0, 2) else self
        return self

    def wait_event(self, event: FakeEvent) -> None:
        self.cuda.log.append(("wait", self.ptr, event.id, event.recorded_on))

    def synchronize(self) -> None:
        self.cuda.log.append(("sync", self.ptr))


class FakeEvent:
    def __init__(self, cuda: FakeCuda, **_: Any) -> None:
        self.cuda = cuda
        self.id = next(cuda.ids)
        self.device_id = cuda.device()
        self.recorded_on: tuple | None = None
        cuda.events_made += 1

    def record(self, stream: FakeStream | None = None) -> None:
        stream = stream or self.cuda.current_stream()
        self.recorded_on = (stream.ptr, threading.get_ident())
        self.cuda.log.append(("record", self.id, *self.recorded_on, self.cuda.device()))

    @property
    def done(self) -> bool:
        return False

    def query(self) -> bool:
        return False

    def synchronize(self) -> None:
        pass


class FakeDevice:
    """``cupy.cuda.Device``: a context manager and ``use()`` over the thread's device."""

    def __init__(self, cuda: FakeCuda, index: int) -> None:
        self.cuda = cuda
        self.id = index
        self.mem_info = (1, 2)

    def use(self) -> None:
        self.cuda.local.device = self.id

    def __enter__(self) -> FakeDevice:
        self._previous = self.cuda.device()
        self.use()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cuda.local.device = self._previous

    def synchronize(self) -> None:
        self.cuda.log.append(("device-sync", self.id))


class FakeArray:
    def __init__(self, cuda: FakeCuda, data: np.ndarray) -> None:
        self.data = data
        self.device = SimpleNamespace(id=cuda.device())


def fake_cupy(cuda: FakeCuda) -> Any:
    """A stand-in ``cupy`` module over ``cuda``."""

    def asarray(x: Any, dtype: Any = None) -> FakeArray:
        stream = cuda.current_stream()
        cuda.log.append(("copy", stream.ptr, threading.get_ident(), cuda.device()))
        return FakeArray(cuda, np.asarray(x, dtype=dtype))

    class Generator:
        def __init__(self, bit_generator: Any) -> None:
            pass

        def standard_normal(self, size: Any, dtype: Any) -> FakeArray:
            return asarray(np.zeros(size), dtype)

    return SimpleNamespace(
        __version__="fake",
        ndarray=FakeArray,
        asarray=asarray,
        random=SimpleNamespace(Generator=Generator, XORWOW=lambda seed: seed),
        cuda=SimpleNamespace(
            Device=lambda index: FakeDevice(cuda, index),
            Stream=lambda non_blocking=False: FakeStream(cuda, non_blocking=non_blocking),
            Event=lambda **kw: FakeEvent(cuda, **kw),
            get_current_stream=cuda.current_stream,
            runtime=SimpleNamespace(getDeviceCount=lambda: cuda.devices),
            device=SimpleNamespace(
                get_cublas_handle=lambda: cuda.log.append(("cublas", cuda.device()))
            ),
        ),
    )
