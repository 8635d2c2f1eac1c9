"""Stand-ins for cupy (with cupyx and cupy.cuda.nccl) and torch.cuda that log what a CUDA
program would enqueue, for the GPU parts of ``tfnn.parallel`` (no GPU in CI).

``FakeNccl`` sums for real: the ranks are threads, each ``allReduce`` meets the others'
at a barrier when its stream is synchronised (``ThreadWorld`` is their ``COMM_WORLD``).

An asynchronous copy is *queued* on its stream and its bytes move only when that stream
is synchronised, as on a GPU where the host reads a buffer too early if it does not wait:
a missing synchronize shows up as stale bytes, not only as a missing log entry. Every
enqueue, wait and synchronize appends a tuple to ``log``.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np


class Gpu:
    """Shared state: the log, the current device and stream of each thread, ids."""

    def __init__(self, devices: int = 2) -> None:
        self.log: list[tuple] = []
        self.devices = devices
        self.local = threading.local()
        self.ids = itertools.count(10)
        self.streams: dict[int, Stream] = {}
        self.default = Stream(self, ptr=0)

    def device(self) -> int:
        return getattr(self.local, "device", 0)

    def current(self) -> Stream:
        return getattr(self.local, "stream", None) or self.default


class Stream:
    def __init__(self, gpu: Gpu, ptr: int | None = None, **_: Any) -> None:
        self.gpu = gpu
        self.ptr = next(gpu.ids) if ptr is None else ptr
        self.device_id = gpu.device()
        self.pending: list[Any] = []
        gpu.streams[self.ptr] = self

    def enqueue(self, what: tuple, work: Any) -> None:
        self.gpu.log.append(what)
        self.pending.append(work)

    def wait_event(self, event: Event) -> None:
        self.gpu.log.append(("wait", self.ptr, event.stream))

    def wait_stream(self, other: Stream) -> None:
        self.gpu.log.append(("wait", self.ptr, other.ptr))

    def synchronize(self) -> None:
        for work in self.pending:
            work()
        self.pending.clear()
        self.gpu.log.append(("sync", self.ptr))


class Event:
    def __init__(self, gpu: Gpu, **_: Any) -> None:
        self.gpu = gpu
        self.stream: int | None = None

    def record(self, stream: Stream) -> None:
        self.stream = stream.ptr
        self.gpu.log.append(("record", stream.ptr))


class Device:
    def __init__(self, gpu: Gpu, index: int) -> None:
        self.gpu = gpu
        self.id = index

    def __enter__(self) -> Device:
        self._previous = self.gpu.device()
        self.gpu.local.device = self.id
        return self

    def __exit__(self, *exc: object) -> None:
        self.gpu.local.device = self._previous


def _move(dst: int, src: int, size: int) -> Any:
    return lambda: ctypes.memmove(dst, src, size)


class Memory:
    """``ndarray.data``: a device pointer with cupy's asynchronous host copies."""

    def __init__(self, array: CupyArray) -> None:
        self.array = array
        self.ptr = array.host.ctypes.data

    def copy_to_host_async(self, dst: ctypes.c_void_p, size: int, stream: Stream) -> None:
        src = self.array.host.ctypes.data
        stream.enqueue(("d2h", stream.ptr, size), _move(dst.value or 0, src, size))

    def copy_from_host_async(self, src: ctypes.c_void_p, size: int, stream: Stream) -> None:
        dst = self.array.host.ctypes.data
        stream.enqueue(("h2d", stream.ptr, size), _move(dst, src.value or 0, size))


class CupyArray:
    """A cupy array whose device memory is a numpy array (``host``)."""

    def __init__(self, gpu: Gpu, host: np.ndarray) -> None:
        self.host = host
        self.device = SimpleNamespace(id=gpu.device())
        self.data = Memory(self)
        self.shape, self.dtype, self.size, self.nbytes = (
            host.shape,
            host.dtype,
            host.size,
            host.nbytes,
        )

    def get(self) -> np.ndarray:
        return self.host.copy()


def fake_cupy(gpu: Gpu, nccl: Any = None) -> tuple[Any, Any]:
    """``(cupy, cupyx)`` over ``gpu``; ``nccl`` becomes ``cupy.cuda.nccl``."""

    def empty_pinned(shape: Any, dtype: Any) -> np.ndarray:
        gpu.log.append(("pinned", shape))
        return np.full(shape, np.nan, dtype)

    cupy = SimpleNamespace(
        __version__="fake",
        ndarray=CupyArray,
        asarray=lambda a: CupyArray(gpu, np.array(a)),
        empty=lambda shape, dtype: CupyArray(gpu, np.full(shape, np.nan, dtype)),
        cuda=SimpleNamespace(
            Device=lambda index=0: Device(gpu, index),
            Stream=lambda **kw: Stream(gpu, **kw),
            Event=lambda **kw: Event(gpu, **kw),
            get_current_stream=gpu.current,
            runtime=SimpleNamespace(getDeviceCount=lambda: gpu.devices),
            nccl=nccl,
        ),
    )
    return cupy, SimpleNamespace(empty_pinned=empty_pinned)


class Tensor:
    """A torch tensor over a numpy array; ``copy_`` is queued on the current stream."""

    def __init__(self, torch: FakeTorch, data: np.ndarray, device: str, pinned=False) -> None:
        self.torch = torch
        self.data = data
        self.device = device
        self.pinned = pinned
        self.shape, self.dtype = data.shape, data.dtype

    def numpy(self) -> np.ndarray:
        return self.data

    def reshape(self, *shape: int) -> Tensor:
        return Tensor(self.torch, self.data.reshape(*shape), self.device, self.pinned)

    def copy_(self, src: Tensor, non_blocking: bool = False) -> None:
        stream = self.torch.current
        what = ("copy", stream.ptr, src.device, self.device, non_blocking)
        stream.enqueue(what, lambda: np.copyto(self.data, src.data))


class FakeTorch:
    """``torch`` with just what ``tfnn.parallel.staging`` uses."""

    def __init__(self, gpu: Gpu) -> None:
        self.gpu = gpu
        self.current = gpu.default
        self.cuda = SimpleNamespace(
            Stream=self._stream,
            current_stream=lambda device: self.current,
            stream=self._use,
        )

    def device(self, name: str) -> str:
        return name

    def _stream(self, device: str) -> Stream:
        stream = Stream(self.gpu)
        stream.device_id = int(device.split(":")[1])
        return stream

    @contextlib.contextmanager
    def _use(self, stream: Stream) -> Any:
        previous, self.current = self.current, stream
        try:
            yield
        finally:
            self.current = previous

    def empty(self, n: Any, dtype: Any, pin_memory: bool = False, device: str = "cpu") -> Tensor:
        if pin_memory:
            self.gpu.log.append(("pinned", n))
        return Tensor(self, np.full(n, np.nan, dtype), device, pin_memory)


class _Group:
    """The ranks of one NCCL unique id: buffers meet at a barrier, summed in rank order."""

    def __init__(self, size: int) -> None:
        self.barrier = threading.Barrier(size, timeout=10)
        self.buffers: list[Any] = [None] * size

    def allreduce(self, rank: int, view: np.ndarray) -> None:
        self.buffers[rank] = view.copy()
        self.barrier.wait()
        total = self.buffers[0].copy()
        for other in self.buffers[1:]:
            total += other
        self.barrier.wait()
        view[...] = total


class FakeNccl:
    """``cupy.cuda.nccl`` over ``gpu``; ``available`` as cupy reports it."""

    NCCL_FLOAT32, NCCL_FLOAT64, NCCL_SUM = "f32", "f64", "sum"

    def __init__(self, gpu: Gpu, available: bool = True) -> None:
        self.gpu = gpu
        self.available = available
        self.groups: dict[str, _Group] = {}
        self.lock = threading.Lock()
        nccl = self

        class NcclCommunicator:
            def __init__(self, size: int, unique_id: str, rank: int) -> None:
                with nccl.lock:
                    self.group = nccl.groups.setdefault(unique_id, _Group(size))
                self.rank = rank
                nccl.gpu.log.append(("nccl-init", size, unique_id, rank, nccl.gpu.device()))

            def allReduce(self, send, recv, count, dtype, op, stream) -> None:
                assert send == recv and op == "sum"
                c_type = ctypes.c_float if dtype == "f32" else ctypes.c_double
                view = np.ctypeslib.as_array((c_type * count).from_address(recv))
                work = lambda: self.group.allreduce(self.rank, view)  # noqa: E731
                nccl.gpu.streams[stream].enqueue(("allreduce", stream, count, dtype), work)

        self.NcclCommunicator = NcclCommunicator

    def get_unique_id(self) -> str:
        return f"id-{next(self.gpu.ids)}"

    def get_version(self) -> int:
        return 21803


class ThreadWorld:
    """``COMM_WORLD`` for ``size`` threads: ``bcast`` from rank 0, ``Abort`` logged."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.barrier = threading.Barrier(size, timeout=10)
        self.value: Any = None
        self.aborted: list[int] = []

    def member(self, rank: int) -> Any:
        world = self

        class Member:
            def Get_rank(self) -> int:
                return rank

            def Get_size(self) -> int:
                return world.size

            def bcast(self, value: Any, root: int = 0) -> Any:
                if rank == root:
                    world.value = value
                world.barrier.wait()
                got = world.value
                world.barrier.wait()
                return got

            def Abort(self, code: int) -> None:
                world.aborted.append(code)

        return Member()
