"""Pinned host staging (tfnn.parallel.staging): bytes, reuse and freshness on stand-in
backends and the simulated device; stream order against logging fakes of cupy and torch
(tests/parallel/fake_gpu.py). Never run on a GPU."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from tfnn.executor.simulated import SimulatedDevice
from tfnn.parallel import ThreadGroup
from tfnn.parallel.staging import CupyCopies, HostStaging, PlainCopies, TorchCopies

from .fake_gpu import CupyArray, FakeTorch, Gpu, Tensor, fake_cupy


class _DeviceBackend:
    """A device backend in miniature: its arrays are copies, as a GPU's would be."""

    name = "sim"
    device = "sim:0"
    xp = np

    def to_numpy(self, a):
        return np.array(a)

    def asarray(self, a):
        return np.array(a)


def _grads(step, n=(5, 3)):
    return [np.arange(k, dtype=np.float32) + 10 * step + b for b, k in enumerate(n)]


def test_plain_buffers_round_trip_are_reused_and_give_fresh_arrays():
    staging = HostStaging(_DeviceBackend(), [5, 3])
    assert isinstance(staging.copies, PlainCopies) and not staging.pinned
    seen: dict[int, list] = {0: [], 1: []}
    results = []
    for step in range(3):
        for b, flat in enumerate(_grads(step)):
            host = staging.to_host(b, flat)
            assert host.tobytes() == flat.tobytes()
            seen[b].append(host)
            host *= 2  # what MPI's in-place sum writes
            out = staging.to_device(b)
            np.testing.assert_array_equal(out, 2 * flat)
            assert not np.shares_memory(out, host)
            results.append(out)
    for b in (0, 1):
        assert all(h is seen[b][0] for h in seen[b])  # one buffer per bucket, every step
    assert not any(np.shares_memory(a, b) for i, a in enumerate(results) for b in results[:i])
    np.testing.assert_array_equal(results[0], 2 * _grads(0)[0])  # later steps left it alone


def test_a_host_backend_still_gets_a_fresh_array():
    from tfnn.backends import get_backend

    staging = HostStaging(get_backend("numpy"), [4])
    host = staging.to_host(0, np.ones(4, np.float32))
    assert not np.shares_memory(staging.to_device(0), host)


def test_wrong_sizes_and_order_are_bugs():
    staging = HostStaging(_DeviceBackend(), [4])
    with pytest.raises(ValueError, match="before to_host"):
        staging.to_device(0)
    with pytest.raises(ValueError, match="holds 4 elements, got 3"):
        staging.to_host(0, np.ones(3, np.float32))


def _staged_rank(rank, member, results):
    staging = HostStaging(_DeviceBackend(), [6])
    with SimulatedDevice(streams=1, max_delay=0.001, seed=rank) as sim:
        stream = sim.streams[0]
        sums = []
        box: dict = {}
        for step in range(3):
            grad = np.full(6, rank + 1 + step, np.float32)
            stream.launch(lambda g=grad: box.update(host=staging.to_host(0, g)))
            stream.synchronize()
            member.allreduce(box["host"])
            stream.launch(lambda: box.update(out=staging.to_device(0)))
            stream.synchronize()
            sums.append(box["out"])
        results[rank] = sums


def test_two_ranks_reduce_through_staged_buffers_on_the_simulated_device():
    group = ThreadGroup(2)
    results: dict[int, list] = {}
    threads = [
        threading.Thread(target=_staged_rank, args=(r, group.members[r], results)) for r in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for rank in (0, 1):
        for step, out in enumerate(results[rank]):
            np.testing.assert_array_equal(out, np.full(6, 3 + 2 * step, np.float32))


class _Gpu:
    def __init__(self, name, device):
        self.name = name
        self.device = device


@pytest.fixture
def cupy_gpu(monkeypatch):
    gpu = Gpu()
    cupy, cupyx = fake_cupy(gpu)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    return gpu


def test_cupy_copies_are_async_on_the_gpus_stream_then_synchronised(cupy_gpu):
    gpu = cupy_gpu
    staging = HostStaging(_Gpu("cupy", "cuda:1"), [4])
    copies = staging.copies
    assert isinstance(copies, CupyCopies) and staging.pinned
    assert copies.stream.device_id == 1
    s = copies.stream.ptr
    for step in range(2):
        flat = CupyArray(gpu, np.arange(4, dtype=np.float32) + step)
        gpu.log.clear()
        host = staging.to_host(0, flat)
        # Pinned once; the copy waits for the current stream's work, then the host waits.
        pinned = [("pinned", (4,))] if step == 0 else []
        assert gpu.log == [*pinned, ("record", 0), ("wait", s, 0), ("d2h", s, 16), ("sync", s)]
        np.testing.assert_array_equal(host, flat.host)
        host += 1
        gpu.log.clear()
        out = staging.to_device(0)
        assert gpu.log == [("record", 0), ("wait", s, 0), ("h2d", s, 16), ("sync", s)]
        assert out.device.id == 1
        np.testing.assert_array_equal(out.host, flat.host + 1)
        assert not np.shares_memory(out.host, host)
        if step == 0:
            first = host
    assert host is first


def test_torch_copies_are_async_on_the_gpus_stream_then_synchronised(monkeypatch):
    gpu = Gpu()
    torch = FakeTorch(gpu)
    monkeypatch.setitem(sys.modules, "torch", torch)
    staging = HostStaging(_Gpu("torch", "cuda:1"), [3])
    copies = staging.copies
    assert isinstance(copies, TorchCopies) and staging.pinned
    assert copies.stream.device_id == 1
    s = copies.stream.ptr
    flat = Tensor(torch, np.array([1.0, 2.0, 3.0], np.float32), "cuda:1")
    host = staging.to_host(0, flat)
    assert gpu.log == [
        ("pinned", 3),
        ("wait", s, 0),
        ("copy", s, "cuda:1", "cpu", True),
        ("sync", s),
    ]
    np.testing.assert_array_equal(host, [1, 2, 3])
    host *= 3
    gpu.log.clear()
    out = staging.to_device(0)
    assert gpu.log == [("wait", s, 0), ("copy", s, "cpu", "cuda:1", True), ("sync", s)]
    assert out.device == "cuda:1"
    np.testing.assert_array_equal(out.data, [3, 6, 9])
    assert staging.to_host(0, flat) is host
