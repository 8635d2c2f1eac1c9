"""cupy on ``cuda:N``: arrays on an NVIDIA GPU, with streams and events.

cupy is imported when a ``CupyBackend`` is created or described, never when tfnn is
imported. Everything that allocates runs with the backend's GPU current, so a backend
on ``cuda:1`` never allocates on ``cuda:0``; and because array-api-compat ignores
``device=`` in cupy's ``zeros``/``arange`` (they use the current device), the backend
also makes its GPU the current device of the thread that creates it and of every thread
``limit_threads`` prepares (the Trainer calls it on each thread that runs tasks), so
layer initialisation and host tasks make and run their arrays on that GPU.

Random numbers come from cupy's Generator API with a XORWOW bit generator seeded with
``seed``: the same seed gives the same arrays with the same cupy version, but not the
numbers numpy's PCG64 gives for that seed, so a run on cupy does not match a numpy run
bit for bit. ``permutation`` is the argsort of uniform floats.

Streams: ``stream_pool(size)`` gives ``size`` cupy streams on the GPU, the same pool for
the same device and size for the life of the process (``PoolCache``). ``launch(fn)`` runs
``fn`` on the host with the GPU and that stream current, so the kernels it issues are
enqueued on the stream and ``launch`` returns before they run. ``record`` records a
pooled cupy event (timing off) and ``wait`` makes the stream wait for it on the GPU.

Host work: ``asarray`` and the rng outside ``launch`` (initial weights, the first batch)
run on the calling thread's current stream. Pool streams are blocking streams, which
follow cupy's legacy default stream by themselves; on any other current stream (cupy's
per-thread default stream with ``CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1``, a user's
stream) the backend records an event after such work and the pool streams wait for it
before their next launch (``HostOrder``).

cupy has no ``record_stream``: its memory pool hands a freed block to the next
allocation on the stream that allocated it, even while another stream still reads the
block, so ``keep_alive`` holds such arrays until an event says the reader is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from tfnn.backends.base import BackendError, BackendInfo, DeviceInfo, Event, MemoryInfo
from tfnn.backends.devices import no_such_device, parse_device
from tfnn.backends.streams import CudaStream, HostOrder, PoolCache, PooledEvent, check_pool_size

T = TypeVar("T")


def _import_cupy() -> Any:
    try:
        import cupy
    except ImportError as e:
        raise BackendError(
            f"backend 'cupy' is not installed or does not import ({e}); "
            "pip install 'tfnn[cuda12]' for a CUDA 12 driver or 'tfnn[cuda13]' for CUDA 13"
        ) from e
    return cupy


def _namespace() -> Any:
    import array_api_compat.cupy as xp_cupy

    return xp_cupy


# One pool per GPU and size, and one host-work order per GPU that its pools follow.
_POOLS = PoolCache()
_ORDERS: dict[int, HostOrder] = {}
_ORDERS_LOCK = threading.Lock()


def _order(index: int) -> HostOrder:
    with _ORDERS_LOCK:
        return _ORDERS.setdefault(index, HostOrder())


def _device_count(cupy: Any) -> int:
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except RuntimeError as e:  # cupy's CUDARuntimeError: no driver, or no device
        count, why = 0, f" ({e})"
    else:
        why = ""
    if count == 0:
        raise BackendError(
            f"cupy {cupy.__version__} is installed but sees no CUDA device{why}; check that "
            "nvidia-smi lists a GPU, that CUDA_VISIBLE_DEVICES does not hide it, and that "
            "the extra matches the driver (tfnn[cuda12] or tfnn[cuda13]); or use the numpy "
            "backend"
        )
    return count


def device_count() -> int:
    """The GPUs cupy sees; 0 where cupy, its driver or a GPU is missing (creating the
    backend then says which)."""
    try:
        return int(_import_cupy().cuda.runtime.getDeviceCount())
    except (BackendError, RuntimeError):
        return 0


class CupyBackend:
    """cupy arrays on one GPU; ``xp`` is array-api-compat's cupy namespace.

    Example::

        be = get_backend("cupy", "cuda:0")
        x = be.asarray(np.ones((2, 3), dtype=np.float32))
        be.to_numpy(be.xp.sum(x))   # 6.0, copied back with .get()
    """

    name = "cupy"

    def __init__(self, device: str = "cuda:0") -> None:
        cupy = _import_cupy()
        parsed = parse_device(device)
        if parsed.kind != "cuda":
            raise BackendError(
                f"the cupy backend runs on CUDA devices, not on {device!r}; "
                "use device='cuda:0' (or cuda:N), or the numpy backend for the CPU"
            )
        count = _device_count(cupy)
        if parsed.index >= count:
            raise no_such_device(device, "cupy", count)
        self.device = f"cuda:{parsed.index}"
        self.xp = _namespace()
        self._cupy = cupy
        self._index = parsed.index
        self._order = _order(parsed.index)
        cupy.cuda.Device(parsed.index).use()  # see the module docstring: zeros, arange

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        cupy = self._cupy
        with _on(cupy, self._index):
            if isinstance(x, cupy.ndarray) and x.device.id != self._index:
                x = x.copy()  # ndarray.copy copies onto the current device
            a = cupy.asarray(x, dtype=dtype)
            self._made()
            return a

    def _made(self) -> None:
        """Order the work just enqueued outside ``launch`` before the pool's next launches."""
        _made(self._cupy, self._order)

    def to_numpy(self, a: Any) -> np.ndarray:
        if isinstance(a, self._cupy.ndarray):
            return a.get()
        return np.asarray(a)

    def rng(self, seed: int) -> CupyGenerator:
        return CupyGenerator(self._cupy, self._index, seed, self._order)

    def stream_pool(self, size: int = 4) -> CupyStreamPool:
        """The GPU's pool of ``size`` streams, made once and shared (``PoolCache``)."""
        cupy, index, order = self._cupy, self._index, self._order
        return _POOLS.get(index, size, lambda: CupyStreamPool(cupy, index, size, order))

    def memory_info(self) -> MemoryInfo:
        """Free and total bytes on this GPU."""
        return MemoryInfo(*self._cupy.cuda.Device(self._index).mem_info)

    def synchronize(self) -> None:
        """Wait until all work queued on this GPU, on every stream, is done."""
        self._cupy.cuda.Device(self._index).synchronize()

    def limit_threads(self, threads: int) -> int:
        """Prepare the calling thread to run this backend's tasks; nothing to cap (see
        ``Backend.limit_threads``): make the GPU current, create the thread's cuBLAS handle
        now rather than inside the first timed matmul, and order the thread's earlier work
        before the pool streams' next launches."""
        cupy = self._cupy
        cupy.cuda.Device(self._index).use()
        cupy.cuda.device.get_cublas_handle()
        self._made()
        return threads

    def __repr__(self) -> str:
        return f"CupyBackend(device={self.device!r})"


def _on(cupy: Any, index: int) -> Any:
    # A fresh Device object each time: a Device keeps the previous device on a stack of
    # its own, which two threads entering the same object would pop in the wrong order.
    return cupy.cuda.Device(index)


def _made(cupy: Any, order: HostOrder) -> None:
    stream = cupy.cuda.get_current_stream()
    if stream.ptr in (0, 1):
        return  # the legacy default stream (0, or its handle 1), which blocking pool
        # streams follow already

    def record(event: Any) -> Any:
        if event is None:
            event = cupy.cuda.Event(disable_timing=True)
        event.record(stream)
        return event

    # A per-thread default stream has one handle for all threads: key by thread too.
    order.made((stream.ptr, threading.get_ident()), record)


class CupyGenerator:
    """cupy's Generator with a XORWOW bit generator, on one GPU (see the module docstring)."""

    def __init__(self, cupy: Any, index: int, seed: int, order: HostOrder) -> None:
        self._cupy = cupy
        self._index = index
        self._order = order
        with _on(cupy, index):
            self._generator = cupy.random.Generator(cupy.random.XORWOW(seed))

    def normal(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        return self._draw(lambda: self._generator.standard_normal(size=shape, dtype=_float(dtype)))

    def uniform(
        self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0, dtype: Any = None
    ) -> Any:
        return self._draw(
            lambda: self._generator.uniform(low, high, size=shape, dtype=_float(dtype))
        )

    def permutation(self, n: int) -> Any:
        return self._draw(lambda: self._cupy.argsort(self._generator.random(n)))

    def _draw(self, draw: Callable[[], Any]) -> Any:
        with _on(self._cupy, self._index):
            a = draw()
            _made(self._cupy, self._order)
            return a

    @property
    def state(self) -> Any:
        """Every cuRAND thread's XORWOW state (an int8 array on the GPU), for checkpoints."""
        # cupy has no public state API: the bit generator keeps its states in ``_state``.
        with _on(self._cupy, self._index):
            return self._generator.bit_generator._state.copy()

    @state.setter
    def state(self, value: Any) -> None:
        with _on(self._cupy, self._index):
            self._generator.bit_generator._state[...] = self._cupy.asarray(value)


def _float(dtype: Any) -> Any:
    return np.float32 if dtype is None else np.dtype(dtype)


class CupyEvent(PooledEvent):
    """A recorded cupy event: ``synchronize`` waits on the host, ``query`` polls."""

    __slots__ = ()

    def query(self) -> bool:
        return bool(self.raw.done)


class CupyStream(CudaStream):
    """One cupy stream; see ``tfnn.backends.base`` for the contract."""

    event_type = CupyEvent

    def __init__(self, cupy: Any, index: int, order: HostOrder) -> None:
        super().__init__(order)
        self._cupy = cupy
        self._index = index
        with _on(cupy, index):
            # Blocking: ordered after the legacy default stream (see the module docstring).
            self.raw = cupy.cuda.Stream(non_blocking=False)

    def enter(self, fn: Callable[[], T]) -> T:
        # Not `with self.raw:`: a cupy Stream remembers its entered device on the object
        # itself, so two workers launching on one stream at once would corrupt it;
        # use() sets the thread's current stream only.
        with _on(self._cupy, self._index):
            previous = self._cupy.cuda.get_current_stream()
            self.raw.use()
            try:
                return fn()
            finally:
                previous.use()

    def new_event(self) -> Any:
        with _on(self._cupy, self._index):
            return self._cupy.cuda.Event(disable_timing=True)

    def record_on(self, raw_event: Any) -> None:
        with _on(self._cupy, self._index):
            raw_event.record(self.raw)

    def native(self, event: Event) -> Any | None:
        return event.raw if isinstance(event, CupyEvent) else None


class CupyStreamPool:
    """``size`` cupy streams of one GPU, following one ``HostOrder``."""

    def __init__(self, cupy: Any, index: int, size: int, order: HostOrder) -> None:
        self.streams = [CupyStream(cupy, index, order) for _ in range(check_pool_size(size))]


def describe() -> BackendInfo:
    """cupy's row in ``tfnn info``: every GPU cupy sees, with its name and memory."""
    try:
        cupy = _import_cupy()
    except BackendError as e:
        return BackendInfo("cupy", str(e))
    try:
        count = _device_count(cupy)
    except BackendError as e:
        return BackendInfo("cupy", str(e), cupy.__version__)
    devices = tuple(
        DeviceInfo(f"cuda:{i}", _gpu_name(cupy, i), MemoryInfo(*cupy.cuda.Device(i).mem_info))
        for i in range(count)
    )
    return BackendInfo("cupy", None, cupy.__version__, devices)


def _gpu_name(cupy: Any, index: int) -> str:
    name = cupy.cuda.runtime.getDeviceProperties(index)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)
