"""The pieces of tfnn.parallel without MPI: placement, sharding, buckets, the comm stream,
allreduce tasks in a graph (two in-process ranks, host staging on the simulated device)."""

from __future__ import annotations

import itertools
import sys
import threading
from functools import partial

import numpy as np
import pytest

from tfnn.data import Batches
from tfnn.executor import Executor, SyncExecutor, Taskflow
from tfnn.executor.simulated import SimulatedDevice
from tfnn.parallel import (
    COMM_DEVICE,
    CommDevice,
    DistributedError,
    Modelled,
    NetworkModel,
    ShardedBatches,
    Single,
    ThreadGroup,
    blas_threads_per_rank,
    device_for_rank,
    placement,
    rank_path,
    resolve,
    shard_bounds,
)
from tfnn.parallel.faults import describe_failure
from tfnn.parallel.graph import wire_allreduce
from tfnn.parallel.reducer import GradientReducer, make_buckets

from .helpers import fake_parameters

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (1, 0, 0, 1, None)),
        (
            {"PMI_SIZE": "4", "PMI_RANK": "3", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2"},
            (4, 3, 1, 2, "MPICH"),
        ),
        (
            {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"},
            (2, 1, 1, 2, "Open MPI"),
        ),
        (
            {
                "SLURM_NTASKS": "8",
                "SLURM_PROCID": "5",
                "SLURM_LOCALID": "1",
                "SLURM_NTASKS_PER_NODE": "4(x2)",
            },
            (8, 5, 1, 4, "Slurm"),
        ),
    ],
    ids=["alone", "mpich", "openmpi", "slurm"],
)
def test_placement_reads_the_launchers_variables(env, expected):
    p = placement(env)
    assert (p.size, p.rank, p.local_rank, p.local_size, p.launcher) == expected


def test_per_rank_resources():
    assert blas_threads_per_rank(2, cores=2) == 1
    assert blas_threads_per_rank(1, cores=16) == 16
    assert blas_threads_per_rank(32, cores=16) == 1
    assert [device_for_rank(r, 2) for r in range(3)] == ["cuda:0", "cuda:1", "cuda:0"]
    assert rank_path("run/t.json", 0) == "run/t.json"
    assert rank_path("run/t.json", 1) == "run/t.rank1.json"
    assert rank_path("trace", 2) == "trace.rank2"


@pytest.mark.parametrize("n", [1, 2, 7, 96, 128])
@pytest.mark.parametrize("ranks", [1, 2, 3, 8])
def test_shards_cover_the_batch_once_in_rank_order(n, ranks):
    bounds = [shard_bounds(n, r, ranks) for r in range(ranks)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert max(hi - lo for lo, hi in bounds) - min(hi - lo for lo, hi in bounds) <= 1


def _batches(n=300, batch=128):
    rng = np.random.default_rng(0)
    return Batches(rng.random((n, 6)), rng.integers(0, 3, n), batch, seed=4, normalize=False)


@pytest.mark.parametrize("ranks", [2, 3])
def test_sharded_batches_join_to_the_global_batch(ranks):
    whole = _batches()
    shards = [ShardedBatches(_batches(), r, ranks) for r in range(ranks)]
    assert len(shards[0]) == len(whole) == 3
    for epoch in (0, 1):
        for step in range(len(whole)):
            x, y = whole.batch(epoch, step)
            parts = [s.batch(epoch, step) for s in shards]
            np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), x)
            np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), y)
            assert shards[0].size(step) == len(y)
            assert sum(s.share(step) * s.size(step) for s in shards) == pytest.approx(len(y))


def test_a_last_batch_smaller_than_the_ranks_is_refused():
    with pytest.raises(DistributedError, match="fewer than the 4 ranks"):
        ShardedBatches(_batches(n=259, batch=128), 0, 4)


def test_buckets_close_at_their_size_top_layer_first():
    sizes = {0: 800, 2: 130, 4: 40}
    assert make_buckets(sizes, 0) == [(4,), (2,), (0,)]
    assert make_buckets(sizes, 100) == [(4, 2), (0,)]
    assert make_buckets(sizes, None) == [(4, 2, 0)]


def test_network_model_is_a_ring_allreduce():
    model = NetworkModel(latency=10e-6, bandwidth=10e9)
    assert model.allreduce_seconds(10**6, 1) == 0
    assert model.allreduce_seconds(10**6, 2) == pytest.approx(2 * 10e-6 + 8e6 / 10e9)


def test_modelled_communicator_sleeps_and_pretends_to_be_n_ranks():
    comm = Modelled(Single(), NetworkModel(1e-3, 1e12), size=4)
    buffer = np.ones(4, np.float32)
    comm.allreduce(buffer)
    assert comm.size == 4 and comm.seconds >= 6e-3
    np.testing.assert_array_equal(buffer, 4.0)


def test_resolve_modes():
    assert resolve(None) is None and resolve("none") is None
    assert resolve("auto") is None  # no launcher in the test run
    with pytest.raises(DistributedError, match="unknown distributed mode"):
        resolve("gloo")
    with pytest.raises(DistributedError, match="neither a mode nor a communicator"):
        resolve(42)
    group = ThreadGroup(2)
    assert resolve(group.members[1]) is group.members[1]


def test_failure_names_rank_and_task():
    from tfnn.executor import TaskError

    error = TaskError("BW2", "train", ValueError("bad"))
    error.__cause__ = ValueError("bad")
    assert describe_failure(error, 1, 2) == (
        "tfnn: rank 1 of 2 failed in task 'BW2': ValueError: bad; ending the job"
    )
    assert "interrupted" in describe_failure(KeyboardInterrupt(), 0, 2)


def test_comm_stream_runs_in_order_and_keeps_its_error():
    with CommDevice() as device:
        stream = device.stream
        seen = []
        for i in range(5):
            stream.launch(lambda i=i: seen.append(i))
        assert stream.call(lambda: list(seen)) == [0, 1, 2, 3, 4]
        stream.launch(lambda: 1 / 0)
        stream.launch(lambda: seen.append("skipped"))
        event = stream.record()
        with pytest.raises(ZeroDivisionError):
            event.synchronize()
        with pytest.raises(ZeroDivisionError):
            stream.synchronize()
        stream.synchronize()  # cleared: the stream is usable again
        assert "skipped" not in seen


def _parameters(rank):
    return fake_parameters({0: [(3, 4), (3,)], 2: [(2, 3), (2,)], 3: [(5,)]})


class _StagingBackend:
    """A device backend in miniature: the simulated device's arrays, copied on each move."""

    xp = np

    def __init__(self):
        self.moves = 0

    def to_numpy(self, a):
        self.moves += 1
        return np.array(a)

    def asarray(self, a):
        self.moves += 1
        return np.array(a)


def _train_rank(rank, member, steps, workers, results, launches):
    params, indices = _parameters(rank)
    backend = _StagingBackend()
    reducer = GradientReducer(params, indices, member, backend, bucket_bytes=40)
    reducer.staged = True  # as for GPU arrays and an MPI that is not CUDA-aware
    step = [0]
    tf = Taskflow(f"rank{rank}")
    weights, updates = {}, {}
    seen = []

    def weight(i):
        for j in indices[i]:
            value = (rank + 1) * (i + 1) + step[0]
            params[j].grad = np.full(params[j].value.shape, value, np.float32)

    def update(i):
        seen.append((i, [float(params[j].grad.flat[0]) for j in indices[i]]))

    for i in (3, 2, 0):
        weights[i] = tf.emplace(partial(weight, i), name=f"BW{i}", device="sim:0")
        updates[i] = tf.emplace(partial(update, i), name=f"U{i}", device="sim:0")
    wire_allreduce(tf, reducer, weights, updates, COMM_DEVICE)
    with SimulatedDevice(streams=2, max_delay=0.001, seed=rank) as sim, CommDevice() as comm:
        devices = {"sim:0": sim, COMM_DEVICE: comm}
        executor = SyncExecutor(devices) if workers == 1 else Executor(workers, devices)
        for s in range(steps):
            step[0] = s
            executor.run(tf).result()
        executor.shutdown()
        launches.append(comm.stream.launches)
    results[rank] = (seen, backend.moves, reducer.buckets)


@pytest.mark.parametrize("workers", [1, 2])
def test_allreduce_tasks_on_two_in_process_ranks_with_host_staging(workers):
    group = ThreadGroup(2)
    results: dict[int, tuple] = {}
    launches: list[int] = []
    threads = [
        threading.Thread(
            target=_train_rank, args=(r, group.members[r], 3, workers, results, launches)
        )
        for r in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [0, 1]
    seen, moves, buckets = results[0]
    assert buckets == [(3, 2), (0,)]
    # Two moves per bucket and step, and one per bucket to make its reused host buffer.
    assert moves == 2 * len(buckets) * 3 + len(buckets)
    for s in range(3):
        got = dict(seen[3 * s : 3 * s + 3])
        # sum over ranks of (rank + 1) * (i + 1) + step
        assert got == {i: [3.0 * (i + 1) + 2 * s] * (2 if i != 3 else 1) for i in (3, 2, 0)}
    assert results[1][0] == seen
    assert launches == [2 * 3, 2 * 3]


def test_mpi_mode_without_mpi4py_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(DistributedError, match=r"pip install 'tfnn\[mpi\]'"):
        resolve("mpi")


def test_buckets_default_to_a_size_with_overlap_else_one():
    from tfnn.parallel.data_parallel import BUCKET_BYTES, DataParallel

    member = ThreadGroup(2).members[0]
    assert DataParallel(member).bucket_bytes == BUCKET_BYTES
    mlp = {0: 784 * 256 * 4 + 1024, 2: 256 * 128 * 4 + 512, 4: 128 * 10 * 4 + 40}
    assert make_buckets(mlp, BUCKET_BYTES) == [(4, 2), (0,)]
    assert DataParallel(member, overlap=False).bucket_bytes is None
    assert DataParallel(member, overlap=False, bucket_bytes=4096).bucket_bytes == 4096
    assert DataParallel(member, overlap=False).devices() == {}
