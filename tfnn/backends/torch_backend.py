"""torch through array-api-compat, on ``cpu`` (also ``cpu:N``) or ``cuda:N``.

torch is imported when a ``TorchBackend`` is created or described, never when tfnn is
imported. ``asarray`` infers dtypes from Python data as numpy does (float64 for Python
floats, where torch alone would pick float32), so one call gives one dtype on every
backend; numpy dtypes are accepted wherever torch dtypes are.

``rng(seed)`` is a ``torch.Generator`` on the device: for one seed its numbers differ
from numpy's, and on CUDA from torch's own CPU generator.

Copies to the GPU (``asarray`` of host data: every batch ``prefetch`` loads) go through
pinned host memory and are enqueued without blocking the host (``non_blocking=True``)
on the current stream: a pool stream inside ``launch``, so the batch's consumers order
after it by the stream's event; outside ``launch`` the host-work order below. A blocking
copy (``torch.as_tensor(..., device=cuda)``) synchronises the stream, which waits for
everything queued before it, so the host could run at most about one step ahead. torch's
caching host allocator reuses a pinned block only after the copy's stream has passed it.

Streams: on the CPU the pool is the immediate one. On CUDA each stream is a
``torch.cuda.Stream`` (non-blocking: it does not follow the default stream), events are
pooled ``torch.cuda.Event``s, and the pool for one device and size is made once
(``PoolCache``). Work made outside ``launch`` (``asarray``, the rng, and, through
``limit_threads`` at the start of a fit, whatever the thread made before) records an
event on the thread's current stream that the pool streams wait for, on the GPU, before
their next launch (``HostOrder``); ``to_numpy`` waits for the whole GPU before copying.
``keep_alive`` uses the shared ledger rather than ``Tensor.record_stream`` so that every
backend keeps arrays alive the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from tfnn.backends.base import BackendError, BackendInfo, DeviceInfo, Event, MemoryInfo
from tfnn.backends.devices import no_such_device, parse_device
from tfnn.backends.streams import (
    CudaStream,
    HostOrder,
    ImmediateStreamPool,
    PoolCache,
    PooledEvent,
    check_pool_size,
)

T = TypeVar("T")


# One pool per CUDA device and size, and one host-work order per device.
_POOLS = PoolCache()
_ORDERS: dict[Any, HostOrder] = {}
_ORDERS_LOCK = threading.Lock()


def _import_torch() -> tuple[Any, Any]:
    try:
        import array_api_compat.torch as xp_torch
        import torch
    except ImportError as e:
        raise BackendError(
            f"backend 'torch' is not installed or does not import ({e}); pip install 'tfnn[torch]'"
        ) from e
    return torch, xp_torch


def device_count() -> int:
    """The CUDA devices torch sees; 0 where torch or a GPU is missing."""
    try:
        torch, _ = _import_torch()
    except BackendError:
        return 0
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


class TorchBackend:
    """torch tensors on one device; ``xp`` is array-api-compat's torch namespace.

    Example::

        be = get_backend("torch", "cpu")
        w = be.rng(0).normal((784, 64), dtype=be.xp.float32)
        be.to_numpy(w).dtype   # float32
    """

    name = "torch"

    def __init__(self, device: str = "cpu") -> None:
        torch, self.xp = _import_torch()
        self._torch = torch
        parsed = parse_device(device)
        if parsed.kind == "cpu":
            self.device = device
            self._device = torch.device("cpu")
            return
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise BackendError(
                f"torch {torch.__version__} sees no CUDA device (a CPU-only build, or no "
                "NVIDIA GPU or driver visible); use device='cpu', or install a CUDA build "
                "of torch"
            )
        if parsed.index >= count:
            raise no_such_device(device, "torch", count)
        self.device = f"cuda:{parsed.index}"
        self._device = torch.device("cuda", parsed.index)
        with _ORDERS_LOCK:
            self._order = _ORDERS.setdefault(self.device, HostOrder())

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        torch = self._torch
        dtype = _torch_dtype(torch, dtype)
        if isinstance(x, torch.Tensor):
            out = x.to(device=self._device, dtype=dtype)
        else:
            a = np.asarray(x)
            # torch.as_tensor warns on read-only arrays (which filterwarnings=error turns
            # into failures) and refuses negative strides; a C-contiguous copy avoids both.
            if not (a.flags.writeable and a.flags.c_contiguous):
                a = np.array(a, order="C")
            out = torch.as_tensor(a, dtype=dtype)
            if self._device.type == "cpu":
                return out
            # Pinned, then an asynchronous copy on the current stream (module docstring).
            out = out.pin_memory().to(self._device, non_blocking=True)
        self._made()
        return out

    def _made(self) -> None:
        """Order the work just enqueued outside ``launch`` before the pool's next launches."""
        if self._device.type == "cuda":
            _made(self._torch, self._device, self._order)

    def to_numpy(self, a: Any) -> np.ndarray:
        if isinstance(a, self._torch.Tensor):
            if a.device.type == "cuda":
                # a may come from a pool stream that the copy's stream does not wait for.
                self._torch.cuda.synchronize(a.device)
            return a.detach().cpu().numpy()
        return np.asarray(a)

    def rng(self, seed: int) -> TorchGenerator:
        return TorchGenerator(self._torch, self._device, seed, self._made)

    def stream_pool(self, size: int = 4) -> ImmediateStreamPool | TorchStreamPool:
        """Immediate streams on the CPU; on CUDA the device's pool of ``size`` streams,
        made once and shared (``PoolCache``)."""
        if self._device.type == "cpu":
            return ImmediateStreamPool(size)
        torch, device, order = self._torch, self._device, self._order
        return _POOLS.get(device, size, lambda: TorchStreamPool(torch, device, size, order))

    def memory_info(self) -> MemoryInfo | None:
        """Free and total bytes on the GPU; None on the CPU."""
        if self._device.type == "cpu":
            return None
        return MemoryInfo(*self._torch.cuda.mem_get_info(self._device))

    def synchronize(self) -> None:
        """Wait until all work queued on this backend's GPU is done; nothing on the CPU."""
        if self._device.type == "cuda":
            self._torch.cuda.synchronize(self._device)

    def limit_threads(self, threads: int) -> int:
        """Set this thread's torch intra-op threads (see ``Backend.limit_threads``): a thread
        torch has not been told about uses every core, and two such executor workers on two
        cores run small ops about 3x slower than with one thread each (measured)."""
        previous = int(self._torch.get_num_threads())
        self._torch.set_num_threads(threads)
        if self._device.type == "cuda":
            # The thread's cuBLAS handle now, not inside the first timed matmul; and the
            # thread's earlier work (a bias's zeros) before the pool streams' next launch.
            with self._torch.cuda.device(self._device):
                self._torch.cuda.current_blas_handle()
            self._made()
        return previous

    def __repr__(self) -> str:
        return f"TorchBackend(device={self.device!r})"


def _made(torch: Any, device: Any, order: HostOrder) -> None:
    stream = torch.cuda.current_stream(device)

    def record(event: Any) -> Any:
        if event is None:
            event = torch.cuda.Event()
        event.record(stream)
        return event

    # The default stream's handle is the same on every thread: key by thread too.
    order.made((stream.cuda_stream, threading.get_ident()), record)


def _torch_dtype(torch: Any, dtype: Any) -> Any:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    return getattr(torch, np.dtype(dtype).name)


class TorchGenerator:
    """A seeded ``torch.Generator`` on the backend's device; ``made()`` follows each draw."""

    def __init__(self, torch: Any, device: Any, seed: int, made: Callable[[], None]) -> None:
        self._torch = torch
        self._device = device
        self._made = made
        self._generator = torch.Generator(device=device).manual_seed(seed)

    def normal(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        out = self._torch.randn(
            shape, generator=self._generator, dtype=self._float(dtype), device=self._device
        )
        self._made()
        return out

    def uniform(
        self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0, dtype: Any = None
    ) -> Any:
        out = self._torch.empty(shape, dtype=self._float(dtype), device=self._device)
        out = out.uniform_(low, high, generator=self._generator)
        self._made()
        return out

    def permutation(self, n: int) -> Any:
        out = self._torch.randperm(n, generator=self._generator, device=self._device)
        self._made()
        return out

    @property
    def state(self) -> Any:
        """The generator's state (a uint8 CPU tensor), for checkpoints."""
        return self._generator.get_state()

    @state.setter
    def state(self, value: Any) -> None:
        self._generator.set_state(value)

    def _float(self, dtype: Any) -> Any:
        return self._torch.float32 if dtype is None else _torch_dtype(self._torch, dtype)


class TorchEvent(PooledEvent):
    """A recorded ``torch.cuda.Event`` on loan from its stream's free list."""

    __slots__ = ()

    def query(self) -> bool:
        return bool(self.raw.query())


class TorchStream(CudaStream):
    """One ``torch.cuda.Stream``; see ``tfnn.backends.base`` for the contract."""

    event_type = TorchEvent

    def __init__(self, torch: Any, device: Any, order: HostOrder) -> None:
        super().__init__(order)
        self._torch = torch
        self._device = device
        self.raw = torch.cuda.Stream(device=device)

    def enter(self, fn: Callable[[], T]) -> T:
        with self._torch.cuda.device(self._device), self._torch.cuda.stream(self.raw):
            return fn()

    def new_event(self) -> Any:
        return self._torch.cuda.Event()

    def record_on(self, raw_event: Any) -> None:
        raw_event.record(self.raw)

    def native(self, event: Event) -> Any | None:
        return event.raw if isinstance(event, TorchEvent) else None


class TorchStreamPool:
    """``size`` CUDA streams of one device, following one ``HostOrder``."""

    def __init__(self, torch: Any, device: Any, size: int, order: HostOrder) -> None:
        self.streams = [TorchStream(torch, device, order) for _ in range(check_pool_size(size))]


def describe() -> BackendInfo:
    """torch's row in ``tfnn info``: the CPU and every CUDA device torch sees."""
    try:
        torch, _ = _import_torch()
    except BackendError as e:
        return BackendInfo("torch", str(e))
    devices = [DeviceInfo("cpu", "host CPU")]
    if torch.cuda.is_available():
        devices += [
            DeviceInfo(
                f"cuda:{i}", torch.cuda.get_device_name(i), MemoryInfo(*torch.cuda.mem_get_info(i))
            )
            for i in range(torch.cuda.device_count())
        ]
    return BackendInfo("torch", None, torch.__version__, tuple(devices))
