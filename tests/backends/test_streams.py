"""Stream pieces: the keep-alive ledger, the immediate stream, and real CUDA streams."""

from __future__ import annotations

import gc
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tfnn.backends import BackendError, get_backend
from tfnn.backends.streams import CudaStream, HostOrder, ImmediateStream, KeepAlive


class PendingEvent:
    """An event that completes when the test says so."""

    def __init__(self) -> None:
        self.done = False
        self.waited = False

    def query(self) -> bool:
        return self.done

    def synchronize(self) -> None:
        self.waited = True
        self.done = True


class Buffer:
    """Something a weak reference can watch."""


def test_keep_alive_holds_until_the_event_completes():
    ledger = KeepAlive()
    early, late = PendingEvent(), PendingEvent()
    first, second = Buffer(), Buffer()
    watch_first, watch_second = weakref.ref(first), weakref.ref(second)
    ledger.hold(first, early)
    ledger.hold(second, late)
    del first, second
    gc.collect()
    assert len(ledger) == 2 and watch_first() is not None

    early.done = True
    ledger.release_done()
    gc.collect()
    assert len(ledger) == 1
    assert watch_first() is None and watch_second() is not None

    late.done = True
    assert len(ledger) == 0


def test_immediate_stream_waits_on_a_foreign_event_on_the_host():
    stream = ImmediateStream()
    event = PendingEvent()
    stream.wait(event)
    assert event.waited


def test_immediate_stream_drops_references_to_done_work():
    stream = ImmediateStream()
    buffer = Buffer()
    watch = weakref.ref(buffer)
    stream.keep_alive(buffer, stream.record())
    del buffer
    stream.synchronize()
    gc.collect()
    assert watch() is None


def _gpu_backend(name):
    try:
        return get_backend(name, "cuda:0")
    except BackendError as e:
        pytest.skip(f"{name} on cuda:0 not usable here: {e}")


class FakeStream(CudaStream):
    """The shared CUDA-stream behaviour over a recording stand-in for the library stream."""

    class Raw:
        def __init__(self) -> None:
            self.waited_on: list = []
            self.synchronized = 0

        def wait_event(self, event) -> None:
            self.waited_on.append(event)

        def synchronize(self) -> None:
            self.synchronized += 1

    class OwnEvent(PendingEvent):
        raw = "library event"

    def __init__(self) -> None:
        super().__init__(HostOrder())
        self.raw = self.Raw()

    def native(self, event):
        return event.raw if isinstance(event, self.OwnEvent) else None


def test_cuda_stream_waits_on_its_own_events_on_the_device_and_on_others_on_the_host():
    stream = FakeStream()
    own, foreign = FakeStream.OwnEvent(), PendingEvent()
    stream.wait(own)
    assert stream.raw.waited_on == ["library event"] and not own.waited
    stream.wait(foreign)
    assert foreign.waited and stream.raw.waited_on == ["library event"]


def test_cuda_stream_synchronize_releases_what_finished():
    stream, event, buffer = FakeStream(), PendingEvent(), Buffer()
    watch = weakref.ref(buffer)
    stream.keep_alive(buffer, event)
    del buffer
    gc.collect()
    assert watch() is not None
    event.done = True
    stream.synchronize()
    gc.collect()
    assert watch() is None and stream.raw.synchronized == 1


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cupy", "torch"])
def test_gpu_streams_overlap_and_order(name):
    backend = _gpu_backend(name)
    xp = backend.xp
    first, second = backend.stream_pool(2).streams
    x = backend.asarray(np.ones((4096, 4096), dtype=np.float32))
    y = first.launch(lambda: xp.matmul(x, x))
    produced = first.record()
    second.wait(produced)
    z = second.launch(lambda: y[0, :8] + 1.0)
    consumed = second.record()
    second.keep_alive(y, consumed)
    consumed.synchronize()
    assert produced.query() and consumed.query()
    np.testing.assert_array_equal(backend.to_numpy(z), np.full(8, 4097.0, dtype=np.float32))
    backend.synchronize()
    info = backend.memory_info()
    assert 0 < info.free <= info.total


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cupy", "torch"])
def test_gpu_stream_hands_its_event_to_a_cpu_stream(name):
    backend = _gpu_backend(name)
    xp = backend.xp
    gpu = backend.stream_pool(1).streams[0]
    cpu = get_backend("numpy").stream_pool(1).streams[0]
    y = gpu.launch(lambda: xp.sum(backend.asarray(np.ones(1000, dtype=np.float32))))
    cpu.wait(gpu.record())
    assert cpu.launch(lambda: float(backend.to_numpy(y))) == 1000.0


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cupy", "torch"])
def test_gpu_stream_takes_launches_from_several_threads(name):
    backend = _gpu_backend(name)
    xp = backend.xp
    stream = backend.stream_pool(1).streams[0]
    x = backend.asarray(np.ones((256, 256), dtype=np.float32))
    with ThreadPoolExecutor(4) as workers:
        results = list(workers.map(lambda _: stream.launch(lambda: xp.sum(x @ x)), range(32)))
    stream.synchronize()
    assert {float(backend.to_numpy(r)) for r in results} == {256.0**3}
