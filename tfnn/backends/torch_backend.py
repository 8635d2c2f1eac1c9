"""torch through array-api-compat, on ``cpu`` (also ``cpu:N``) or ``cuda:N``.

torch is imported when a ``TorchBackend`` is created or described, never when tfnn is
imported. ``asarray`` infers dtypes from Python data as numpy does (float64 for Python
floats, where torch alone would pick float32), so one call gives one dtype on every
backend; numpy dtypes are accepted wherever torch dtypes are.

``rng(seed)`` is a ``torch.Generator`` on the device: for one seed its numbers differ
from numpy's, and on CUDA from torch's own CPU generator.

Streams: on the CPU the pool is the immediate one. On CUDA each stream is a
``torch.cuda.Stream`` and events are ``torch.cuda.Event`` (which already have
``synchronize`` and ``query``). torch's streams do not synchronise with the default
stream as cupy's blocking streams do, so ``launch`` first makes its stream wait (on the
GPU) for the caller's current stream, where ``asarray`` and the rng ran, and
``to_numpy`` waits for the whole GPU before copying. ``keep_alive`` uses the shared
ledger rather than ``Tensor.record_stream`` so that every backend keeps arrays alive the
same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from tfnn.backends.base import BackendError, BackendInfo, DeviceInfo, Event, MemoryInfo
from tfnn.backends.devices import no_such_device, parse_device
from tfnn.backends.streams import CudaStream, ImmediateStreamPool, check_pool_size

T = TypeVar("T")


def _import_torch() -> tuple[Any, Any]:
    try:
        import array_api_compat.torch as xp_torch
        import torch
    except ImportError as e:
        raise BackendError(
            f"backend 'torch' is not installed or does not import ({e}); pip install 'tfnn[torch]'"
        ) from e
    return torch, xp_torch


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

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        dtype = _torch_dtype(self._torch, dtype)
        if isinstance(x, self._torch.Tensor):
            return x.to(device=self._device, dtype=dtype)
        a = np.asarray(x)
        # torch.as_tensor warns on read-only arrays (which filterwarnings=error turns into
        # failures) and refuses negative strides; a C-contiguous copy avoids both.
        if not (a.flags.writeable and a.flags.c_contiguous):
            a = np.array(a, order="C")
        return self._torch.as_tensor(a, dtype=dtype, device=self._device)

    def to_numpy(self, a: Any) -> np.ndarray:
        if isinstance(a, self._torch.Tensor):
            if a.device.type == "cuda":
                # a may come from a pool stream that the copy's stream does not wait for.
                self._torch.cuda.synchronize(a.device)
            return a.detach().cpu().numpy()
        return np.asarray(a)

    def rng(self, seed: int) -> TorchGenerator:
        return TorchGenerator(self._torch, self._device, seed)

    def stream_pool(self, size: int = 4) -> ImmediateStreamPool | TorchStreamPool:
        if self._device.type == "cpu":
            return ImmediateStreamPool(size)
        return TorchStreamPool(self._torch, self._device, size)

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
        return previous

    def __repr__(self) -> str:
        return f"TorchBackend(device={self.device!r})"


def _torch_dtype(torch: Any, dtype: Any) -> Any:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    return getattr(torch, np.dtype(dtype).name)


class TorchGenerator:
    """A seeded ``torch.Generator`` on the backend's device."""

    def __init__(self, torch: Any, device: Any, seed: int) -> None:
        self._torch = torch
        self._device = device
        self._generator = torch.Generator(device=device).manual_seed(seed)

    def normal(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        return self._torch.randn(
            shape, generator=self._generator, dtype=self._float(dtype), device=self._device
        )

    def uniform(
        self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0, dtype: Any = None
    ) -> Any:
        out = self._torch.empty(shape, dtype=self._float(dtype), device=self._device)
        return out.uniform_(low, high, generator=self._generator)

    def permutation(self, n: int) -> Any:
        return self._torch.randperm(n, generator=self._generator, device=self._device)

    @property
    def state(self) -> Any:
        """The generator's state (a uint8 CPU tensor), for checkpoints."""
        return self._generator.get_state()

    @state.setter
    def state(self, value: Any) -> None:
        self._generator.set_state(value)

    def _float(self, dtype: Any) -> Any:
        return self._torch.float32 if dtype is None else _torch_dtype(self._torch, dtype)


class TorchStream(CudaStream):
    """One ``torch.cuda.Stream``; see ``tfnn.backends.base`` for the contract."""

    def __init__(self, torch: Any, device: Any) -> None:
        super().__init__()
        self._torch = torch
        self._device = device
        self.raw = torch.cuda.Stream(device=device)

    def launch(self, fn: Callable[[], T]) -> T:
        self.raw.wait_stream(self._torch.cuda.current_stream(self._device))
        with self._torch.cuda.device(self._device), self._torch.cuda.stream(self.raw):
            return fn()

    def record(self) -> Any:
        return self.raw.record_event()

    def native(self, event: Event) -> Any | None:
        return event if isinstance(event, self._torch.cuda.Event) else None


class TorchStreamPool:
    """``size`` CUDA streams of one device."""

    def __init__(self, torch: Any, device: Any, size: int = 4) -> None:
        self.streams = [TorchStream(torch, device) for _ in range(check_pool_size(size))]


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
