"""Overlap on a CPU rank: a started allreduce, a wait task, and a modelled link.

The worker starts an exchange in ``AR(b)``, goes on with the backward pass and ends it in
``AW(b)``; ``Modelled`` lets a started exchange take its network time while the rank
computes, one exchange at a time on its one link.
"""

from __future__ import annotations

import time
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest

from tfnn.executor import SyncExecutor, Taskflow
from tfnn.parallel import COMM_DEVICE, DataParallel, Modelled, NetworkModel, Single, ThreadGroup
from tfnn.parallel.communicator import FINISHED, sleep_until, start_allreduce
from tfnn.parallel.graph import wire_allreduce
from tfnn.parallel.reducer import GradientReducer

from .helpers import fake_parameters


class _Doubling:
    """A communicator of two equal ranks with a blocking allreduce only."""

    rank, size, cuda_aware, library = 0, 2, False, "test"

    def allreduce(self, buffer):
        buffer *= 2


class _Recording(_Doubling):
    """Starts exchanges and logs when each starts and when it is waited for."""

    def __init__(self, log):
        self.log = log
        self.started = 0

    def start_allreduce(self, buffer):
        b = self.started
        self.started += 1
        self.log.append(f"start{b}")
        log = self.log

        def wait():
            log.append(f"wait{b}")
            buffer[...] *= 2

        return SimpleNamespace(wait=wait)


def test_a_communicator_without_start_allreduce_is_done_at_the_start():
    buffer = np.ones(3, np.float32)
    assert start_allreduce(_Doubling(), buffer) is FINISHED
    np.testing.assert_array_equal(buffer, 2.0)
    assert start_allreduce(Single(), buffer) is FINISHED


def test_modelled_exchanges_take_turns_on_one_link():
    # 1,000 bytes over 2 ranks: 2 * 1/2 * 8,000 bits / 400 kb/s = 20 ms each.
    comm = Modelled(Single(), NetworkModel(0.0, 400e3), size=2)
    a, b = np.ones(250, np.float32), np.ones(250, np.float32)
    begin = time.perf_counter()
    first, second = comm.start_allreduce(a), comm.start_allreduce(b)
    first.wait()
    assert time.perf_counter() - begin >= 0.020
    second.wait()
    # The second exchange waits for the link: it ends a whole exchange after the first.
    assert time.perf_counter() - begin >= 0.040
    np.testing.assert_array_equal(a, 2.0)  # the sum over 2 pretended equal ranks


def test_a_wait_after_the_network_time_does_not_sleep_again():
    comm = Modelled(Single(), NetworkModel(0.0, 400e3), size=2)
    pending = comm.start_allreduce(np.ones(250, np.float32))
    time.sleep(0.025)  # the rank computes longer than the exchange takes
    before = comm.seconds
    pending.wait()
    assert comm.seconds - before < 0.020  # nothing left to wait for


def test_sleep_until_returns_at_the_deadline_or_later():
    deadline = time.perf_counter() + 0.003
    sleep_until(deadline)
    assert time.perf_counter() >= deadline


def _reducer(comm):
    params, indices = fake_parameters({0: [(4, 3), (3,)], 2: [(3, 2)], 3: [(2, 2), (2,)]})
    backend = SimpleNamespace(xp=np, device="cpu")
    return GradientReducer(params, indices, comm, backend, bucket_bytes=40), params, indices


def test_split_allreduce_starts_early_and_waits_after_the_backward_pass():
    log: list[str] = []
    reducer, params, indices = _reducer(_Recording(log))
    tf = Taskflow("step")
    weights, updates = {}, {}

    def weight(i):
        log.append(f"BW{i}")
        for j in indices[i]:
            params[j].grad = np.full(params[j].value.shape, i + 1, np.float32)

    def update(i):
        log.append(f"U{i}")
        assert all(float(params[j].grad.flat[0]) == 2 * (i + 1) for j in indices[i])

    for i in (3, 2, 0):
        weights[i] = tf.emplace(partial(weight, i), name=f"BW{i}")
        updates[i] = tf.emplace(partial(update, i), name=f"U{i}")
    # As in backward: a layer's weight gradient listed before the input gradient that
    # leads to the lower layers (tfnn.train.graphs), BW0 last.
    later = tf.emplace(lambda: None, name="BI2")
    weights[3].precede(weights[2], later)
    later.precede(weights[0])
    tasks = wire_allreduce(tf, reducer, weights, updates, "cpu", split=True)
    assert [t.name for t in tasks] == ["AR0", "AR1"]
    assert reducer.buckets == [(3, 2), (0,)]
    executor = SyncExecutor()
    executor.run(tf).result()
    executor.shutdown()
    at = log.index
    assert at("start0") < at("BW0")  # the top layers' exchange overlaps BW0
    assert at("BW0") < at("start1") < at("wait0") < at("U3") < at("U2")
    assert at("wait1") < at("U0")
    assert log.count("wait0") == log.count("wait1") == 1


@pytest.mark.parametrize(("device", "split"), [("cpu", True), ("cpu:1", True), ("cuda:0", False)])
def test_attach_overlaps_with_a_wait_task_on_the_cpu_and_the_stream_on_a_gpu(device, split):
    dp = DataParallel(ThreadGroup(2).members[0], overlap=True)
    params = [SimpleNamespace(value=np.zeros(3, np.float32), grad=None)]
    work = SimpleNamespace(params=params, indices=[range(0, 1)], optimizer=None, layers=[None])
    dp.attach(work, SimpleNamespace(xp=np, device=device))
    assert dp.split is split and work.reduce_split is split
    assert work.reduce_device == ("cpu" if split else COMM_DEVICE)
    assert (dp.devices() == {}) is split
    dp.close()
    off = DataParallel(ThreadGroup(2).members[0], overlap=False)
    off.attach(work, SimpleNamespace(xp=np, device=device))
    assert not off.split and work.reduce_device == "cpu" and off.devices() == {}


def test_the_training_graph_overlaps_upper_exchanges_with_the_first_layers_gradient(tmp_path):
    import json

    from tfnn import nn, optim
    from tfnn.backends import get_backend
    from tfnn.train import Trainer

    model = nn.mlp([20, 16, 8, 4], backend=get_backend("numpy"))
    dp = DataParallel(_Recording([]), overlap=True, bucket_bytes=0)  # a bucket per layer
    trainer = Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        optim.SGD(model.parameters(), lr=0.01),
        workers=1,
        distributed=dp,
    )
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 20), np.float32), rng.integers(0, 4, 64)
    trainer.fit(x, y, epochs=1, batch_size=16, trace=tmp_path / "t.json")
    spans: dict[str, list[tuple[float, float]]] = {}
    for e in json.loads((tmp_path / "t.json").read_text())["traceEvents"]:
        if e.get("ph") == "X":
            spans.setdefault(e["name"], []).append((e["ts"], e["ts"] + e["dur"]))
    first = min(k for k in spans if k.startswith("BW"))  # the first layer's gradient
    assert first == "BW0" and len(spans["AR0"]) == 4  # 64 samples, batch 16
    for ar, bw, aw in zip(spans["AR0"], spans["BW0"], spans["AW0"], strict=True):
        assert ar[1] <= bw[0]  # the top layer's exchange started before BW0 began
        assert aw[0] >= bw[1]  # and is waited for after it


@pytest.mark.parametrize(
    ("local", "device", "overlap"),
    [("2", "cpu", False), ("1", "cpu", True), ("2", "cuda:0", True)],
)
def test_overlap_by_default_on_gpus_and_between_machines(monkeypatch, local, device, overlap):
    for name, value in {"PMI_SIZE": "2", "PMI_RANK": "0", "MPI_LOCALNRANKS": local}.items():
        monkeypatch.setenv(name, value)
    dp = DataParallel(ThreadGroup(2).members[0])
    assert dp.overlap is None
    params = [SimpleNamespace(value=np.zeros(3, np.float32), grad=None)]
    work = SimpleNamespace(params=params, indices=[range(0, 1)], optimizer=None, layers=[None])
    dp.attach(work, SimpleNamespace(xp=np, device=device))
    assert dp.overlap is overlap
    assert (dp.bucket_bytes is None) is not overlap  # one bucket: one allreduce a step
    dp.close()
