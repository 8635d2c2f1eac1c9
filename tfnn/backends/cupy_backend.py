"""cupy on ``cuda:N``: arrays on an NVIDIA GPU, with streams and events.

cupy is imported when a ``CupyBackend`` is created or described, never when tfnn is
imported. Everything that allocates runs with the backend's GPU current, so a backend
on ``cuda:1`` never allocates on ``cuda:0``.

Random numbers come from cupy's Generator API with a XORWOW bit generator seeded with
``seed``: the same seed gives the same arrays with the same cupy version, but not the
numbers numpy's PCG64 gives for that seed, so a run on cupy does not match a numpy run
bit for bit. ``permutation`` is the argsort of uniform floats.

Streams: ``stream_pool(size)`` makes ``size`` cupy streams on the GPU. ``launch(fn)``
runs ``fn`` on the host with the GPU and that stream current, so the kernels it issues
are enqueued on the stream and ``launch`` returns before they run. ``record`` records a
cupy event (timing off) and ``wait`` makes the stream wait for it on the GPU. Pool
streams are blocking streams: they are ordered with cupy's legacy default stream, where
``asarray``, ``to_numpy`` and the rng run outside ``launch`` (so tfnn assumes cupy's
per-thread default stream is off), and an op there waits for all of them.

cupy has no ``record_stream``: its memory pool hands a freed block to the next
allocation on the stream that allocated it, even while another stream still reads the
block, so ``keep_alive`` holds such arrays until an event says the reader is done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from tfnn.backends.base import BackendError, BackendInfo, DeviceInfo, Event, MemoryInfo
from tfnn.backends.devices import no_such_device, parse_device
from tfnn.backends.streams import CudaStream, check_pool_size

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
        import array_api_compat.cupy as xp_cupy

        self.device = f"cuda:{parsed.index}"
        self.xp = xp_cupy
        self._cupy = cupy
        self._index = parsed.index

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        cupy = self._cupy
        with _on(cupy, self._index):
            if isinstance(x, cupy.ndarray) and x.device.id != self._index:
                x = x.copy()  # ndarray.copy copies onto the current device
            return cupy.asarray(x, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        if isinstance(a, self._cupy.ndarray):
            return a.get()
        return np.asarray(a)

    def rng(self, seed: int) -> CupyGenerator:
        return CupyGenerator(self._cupy, self._index, seed)

    def stream_pool(self, size: int = 4) -> CupyStreamPool:
        return CupyStreamPool(self._cupy, self._index, size)

    def memory_info(self) -> MemoryInfo:
        """Free and total bytes on this GPU."""
        return MemoryInfo(*self._cupy.cuda.Device(self._index).mem_info)

    def synchronize(self) -> None:
        """Wait until all work queued on this GPU, on every stream, is done."""
        self._cupy.cuda.Device(self._index).synchronize()

    def limit_threads(self, threads: int) -> int:
        """Nothing to cap per thread (see ``Backend.limit_threads``)."""
        return threads

    def __repr__(self) -> str:
        return f"CupyBackend(device={self.device!r})"


def _on(cupy: Any, index: int) -> Any:
    # A fresh Device object each time: a Device keeps the previous device on a stack of
    # its own, which two threads entering the same object would pop in the wrong order.
    return cupy.cuda.Device(index)


class CupyGenerator:
    """cupy's Generator with a XORWOW bit generator, on one GPU (see the module docstring)."""

    def __init__(self, cupy: Any, index: int, seed: int) -> None:
        self._cupy = cupy
        self._index = index
        with _on(cupy, index):
            self._generator = cupy.random.Generator(cupy.random.XORWOW(seed))

    def normal(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        with _on(self._cupy, self._index):
            return self._generator.standard_normal(size=shape, dtype=_float(dtype))

    def uniform(
        self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0, dtype: Any = None
    ) -> Any:
        with _on(self._cupy, self._index):
            return self._generator.uniform(low, high, size=shape, dtype=_float(dtype))

    def permutation(self, n: int) -> Any:
        with _on(self._cupy, self._index):
            return self._cupy.argsort(self._generator.random(n))

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


class CupyEvent:
    """A recorded cupy event: ``synchronize`` waits on the host, ``query`` polls."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def synchronize(self) -> None:
        self.raw.synchronize()

    def query(self) -> bool:
        return bool(self.raw.done)


class CupyStream(CudaStream):
    """One cupy stream; see ``tfnn.backends.base`` for the contract."""

    def __init__(self, cupy: Any, index: int) -> None:
        super().__init__()
        self._cupy = cupy
        self._index = index
        with _on(cupy, index):
            # Blocking: ordered with the default stream (see the module docstring).
            self.raw = cupy.cuda.Stream(non_blocking=False)

    def launch(self, fn: Callable[[], T]) -> T:
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

    def record(self) -> CupyEvent:
        with _on(self._cupy, self._index):
            event = self._cupy.cuda.Event(disable_timing=True)
            event.record(self.raw)
        return CupyEvent(event)

    def native(self, event: Event) -> Any | None:
        return event.raw if isinstance(event, CupyEvent) else None


class CupyStreamPool:
    """``size`` cupy streams of one GPU."""

    def __init__(self, cupy: Any, index: int, size: int = 4) -> None:
        self.streams = [CupyStream(cupy, index) for _ in range(check_pool_size(size))]


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
