"""The CUDA backends' ordering, device and pooling rules, against logging stand-ins for
cupy and torch.cuda (tests/backends/fake_cuda.py): no GPU needed."""

from __future__ import annotations

import gc
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from tfnn.backends import cupy_backend, torch_backend
from tfnn.backends.streams import HostOrder, PoolCache

from .fake_cuda import FakeCuda, FakeEvent, FakeStream, fake_cupy


@pytest.fixture
def make_cupy(monkeypatch):
    """A CupyBackend over a fresh stand-in; ``make_cupy(device, ptds=...)``."""
    monkeypatch.setattr(cupy_backend, "_POOLS", PoolCache())
    monkeypatch.setattr(cupy_backend, "_ORDERS", {})
    monkeypatch.setattr(cupy_backend, "_namespace", lambda: SimpleNamespace(name="xp"))

    def make(device="cuda:0", ptds=False):
        cuda = FakeCuda(ptds=ptds)
        monkeypatch.setattr(cupy_backend, "_import_cupy", lambda: fake_cupy(cuda))
        return cupy_backend.CupyBackend(device), cuda

    return make


def in_thread(fn):
    result = []
    thread = threading.Thread(target=lambda: result.append(fn()))
    thread.start()
    thread.join()
    return result[0]


def test_per_thread_default_stream_work_is_waited_for_by_the_next_launch(make_cupy):
    # CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1: the first batch (prefetch-first) is copied on
    # a worker's own default stream; the pool stream that reads it must wait for it.
    backend, cuda = make_cupy(ptds=True)
    pool = backend.stream_pool(2)
    in_thread(lambda: backend.asarray(np.ones(3, dtype=np.float32)))
    pool.streams[0].launch(lambda: None)
    pool.streams[0].launch(lambda: None)
    copy = next(i for i, e in enumerate(cuda.log) if e[0] == "copy")
    record = next(i for i, e in enumerate(cuda.log) if e[0] == "record")
    waits = [e for e in cuda.log if e[0] == "wait"]
    assert copy < record  # the event follows the copy on the same host stream
    assert cuda.log[record][2:4] == cuda.log[copy][1:3]
    assert len(waits) == 1  # once: the second launch finds nothing new
    assert waits[0][1] == pool.streams[0].raw.ptr and waits[0][3] == cuda.log[copy][1:3]


def test_initial_weights_are_ordered_too(make_cupy):
    backend, cuda = make_cupy(ptds=True)
    backend.rng(0).normal((2, 2))
    stream = backend.stream_pool(1).streams[0]
    stream.launch(lambda: None)
    assert [e[0] for e in cuda.log] == ["copy", "record", "wait"]


def test_legacy_default_stream_needs_no_events(make_cupy):
    # Blocking pool streams follow the legacy default stream by themselves.
    backend, cuda = make_cupy(ptds=False)
    pool = backend.stream_pool(2)
    backend.asarray(np.ones(3))
    pool.streams[1].launch(lambda: None)
    assert [e[0] for e in cuda.log] == ["copy"]
    assert not any(s.raw.non_blocking for s in pool.streams)


def test_work_made_inside_launch_is_the_streams_own(make_cupy):
    backend, cuda = make_cupy(ptds=True)
    stream = backend.stream_pool(1).streams[0]
    stream.launch(lambda: backend.asarray(np.ones(3)))  # the prefetch task
    stream.launch(lambda: None)
    assert [e[0] for e in cuda.log] == ["copy"]
    assert cuda.log[0][1] == stream.raw.ptr


def test_cuda_n_is_current_where_arrays_are_made(make_cupy):
    # array-api-compat ignores zeros(device=) for cupy: the current device decides.
    backend, cuda = make_cupy("cuda:1")
    assert cuda.device() == 1  # the thread that built the backend (layer initialisation)
    assert in_thread(cuda.device) == 0
    assert in_thread(lambda: (backend.limit_threads(1), cuda.device())[1]) == 1  # workers
    assert ("cublas", 1) in cuda.log  # the worker's cuBLAS handle, made before the clock
    backend.asarray(np.ones(2))
    assert cuda.log[-1][0] == "copy" and cuda.log[-1][3] == 1


def test_limit_threads_orders_what_the_thread_made_before(make_cupy):
    backend, cuda = make_cupy(ptds=True)
    stream = backend.stream_pool(1).streams[0]
    backend.limit_threads(1)  # e.g. after a bias's xp.zeros on this thread
    stream.launch(lambda: None)
    assert [e[0] for e in cuda.log if e[0] != "cublas"] == ["record", "wait"]


def test_events_are_reused_once_nothing_holds_them(make_cupy):
    backend, cuda = make_cupy()
    stream = backend.stream_pool(1).streams[0]
    first = stream.record()
    second = stream.record()  # first is still held: a second event
    assert cuda.events_made == 2
    raw = first.raw
    del first
    gc.collect()
    third = stream.record()
    assert third.raw is raw and cuda.events_made == 2
    assert second.raw is not raw


def test_one_pool_per_device_and_size(make_cupy):
    backend, _ = make_cupy()
    again = cupy_backend.CupyBackend("cuda:0")
    assert backend.stream_pool(4) is again.stream_pool(4)
    assert backend.stream_pool(2) is not backend.stream_pool(4)
    assert cupy_backend.CupyBackend("cuda:1").stream_pool(4) is not backend.stream_pool(4)


# -- torch ----------------------------------------------------------------------------------


class FakeTensor:
    def __init__(self, log: list) -> None:
        self.log = log

    def pin_memory(self) -> FakeTensor:
        self.log.append("pin")
        return self

    def to(self, device, non_blocking=False, **_) -> FakeTensor:
        self.log.append(("to", str(device), non_blocking))
        return self


def fake_torch(cuda: FakeCuda):
    """Enough of torch for TorchBackend.asarray, _made and TorchStream."""
    import contextlib

    def as_tensor(a, dtype=None, device=None):
        cuda.log.append(("as_tensor", device))  # a device here is the blocking copy
        return FakeTensor(cuda.log)

    return SimpleNamespace(
        Tensor=FakeTensor,
        dtype=type(None),
        as_tensor=as_tensor,
        cuda=SimpleNamespace(
            current_stream=lambda device: cuda.current_stream(),
            Stream=lambda device: FakeStream(cuda, non_blocking=True),
            Event=lambda: FakeEvent(cuda),
            device=lambda device: contextlib.nullcontext(),
            stream=lambda stream: contextlib.nullcontext(),
        ),
    )


def torch_on_fake_cuda(cuda):
    backend = torch_backend.TorchBackend.__new__(torch_backend.TorchBackend)
    backend._torch = fake_torch(cuda)
    backend._device = SimpleNamespace(type="cuda", __str__=lambda self: "cuda:0")
    backend._order = HostOrder()
    backend.device = "cuda:0"
    return backend


def test_torch_copies_to_the_gpu_through_pinned_memory_without_blocking():
    cuda = FakeCuda()
    backend = torch_on_fake_cuda(cuda)
    backend.asarray(np.ones(3, dtype=np.float32))
    kinds = [e if isinstance(e, str) else e[0] for e in cuda.log]
    assert kinds == ["as_tensor", "pin", "to", "record"]
    assert cuda.log[0] == ("as_tensor", None)  # made on the host, not a blocking copy
    assert cuda.log[2][2] is True  # non_blocking


def test_torch_launch_waits_only_for_new_host_work_with_pooled_events():
    cuda = FakeCuda()
    order = HostOrder()
    torch = fake_torch(cuda)
    stream = torch_backend.TorchStream(torch, "cuda:0", order)
    for _ in range(3):
        stream.launch(lambda: None)
        stream.record()  # dropped at once, as a finished task's event is
    torch_backend._made(torch, "cuda:0", order)  # host work on the default stream
    stream.launch(lambda: None)
    stream.launch(lambda: None)
    assert [e[0] for e in cuda.log].count("wait") == 1
    assert cuda.events_made == 2  # one pooled task event, one host-order event
