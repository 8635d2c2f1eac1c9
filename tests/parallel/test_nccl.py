"""NCCL for cupy ranks (tfnn.parallel.nccl) against a fake cupy whose NCCL sums across
threads (tests/parallel/fake_gpu.py): two ranks really sum; selection and its errors.
Never run on a GPU."""

from __future__ import annotations

import sys
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from tfnn.backends import get_backend
from tfnn.parallel import DataParallel, DistributedError, communicator, nccl, resolve
from tfnn.parallel.info import format_nccl
from tfnn.parallel.nccl import NcclCommunicator, nccl_status

from .fake_gpu import CupyArray, FakeNccl, Gpu, ThreadWorld, fake_cupy


@pytest.fixture
def fake_nccl(monkeypatch):
    """Install a fake cupy with NCCL; returns ``(gpu, nccl)``."""
    gpu = Gpu()
    fake = FakeNccl(gpu)
    cupy, cupyx = fake_cupy(gpu, fake)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", fake)
    return gpu, fake


def _cupy_backend(device="cuda:0"):
    return SimpleNamespace(name="cupy", device=device)


def _rank(rank, world, gpu, results):
    comm = NcclCommunicator(f"cuda:{rank}", world.member(rank))
    g32 = CupyArray(gpu, np.arange(4, dtype=np.float32) * (rank + 1))
    comm.allreduce(g32)
    g64 = CupyArray(gpu, np.full(3, 0.5 + rank, np.float64))
    comm.allreduce(g64)
    counts = np.array([rank + 1.0, 10.0])  # reduce_values' host numbers
    comm.allreduce(counts)
    results[rank] = (comm, g32.host, g64.host, counts)


def test_two_ranks_sum_on_their_gpus(fake_nccl):
    gpu, _ = fake_nccl
    world = ThreadWorld(2)
    results: dict[int, tuple] = {}
    threads = [threading.Thread(target=_rank, args=(r, world, gpu, results)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [0, 1]
    for rank in (0, 1):
        comm, g32, g64, counts = results[rank]
        assert (comm.rank, comm.size, comm.cuda_aware) == (rank, 2, True)
        assert comm.library == "NCCL 2.18.3 (started over MPI)"
        np.testing.assert_array_equal(g32, np.arange(4, dtype=np.float32) * 3)
        np.testing.assert_array_equal(g64, [2.0, 2.0, 2.0])
        np.testing.assert_array_equal(counts, [3.0, 20.0])
    inits = sorted(e for e in gpu.log if e[0] == "nccl-init")
    # One unique id (rank 0's, broadcast); each communicator made on its rank's GPU.
    assert [(e[1], e[3], e[4]) for e in inits] == [(2, 0, 0), (2, 1, 1)]
    assert inits[0][2] == inits[1][2]


def test_allreduce_follows_the_current_stream_and_synchronises(fake_nccl):
    gpu, _ = fake_nccl
    comm = NcclCommunicator("cuda:1", ThreadWorld(1).member(0))
    s = comm.stream.ptr
    assert comm.stream.device_id == 1
    gpu.log.clear()
    buffer = CupyArray(gpu, np.ones(5, np.float32))
    comm.allreduce(buffer)
    assert gpu.log == [("record", 0), ("wait", s, 0), ("allreduce", s, 5, "f32"), ("sync", s)]
    with pytest.raises(TypeError, match="float32 or float64"):
        comm.allreduce(CupyArray(gpu, np.ones(2, np.int32)))


def test_abort_ends_the_job_through_mpi(fake_nccl):
    world = ThreadWorld(1)
    comm = NcclCommunicator("cuda:0", world.member(0))
    with pytest.raises(SystemExit):
        comm.abort(3)
    assert world.aborted == [3]


def test_nccl_mode_needs_a_cupy_backend(fake_nccl):
    with pytest.raises(DistributedError, match=r"use --backend cupy.*or --distributed mpi"):
        resolve("nccl", get_backend("numpy"))
    with pytest.raises(DistributedError, match="no backend"):
        resolve("nccl")


def test_nccl_mode_without_cupy_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(DistributedError, match=r"needs cupy and NCCL.*pip install"):
        resolve("nccl", _cupy_backend())
    assert nccl_status() == "cupy is not installed"


def test_nccl_mode_without_the_nccl_library(fake_nccl):
    fake_nccl[1].available = False
    with pytest.raises(DistributedError, match=r"finds no NCCL library.*nvidia-nccl"):
        resolve("nccl", _cupy_backend())
    assert "finds no NCCL library" in format_nccl(nccl_status())


def test_nccl_needs_a_gpu_per_rank(fake_nccl, two_ranks, monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "3")  # three ranks on this node, two GPUs
    with pytest.raises(DistributedError, match="3 ranks on this node share 2 GPUs"):
        resolve("nccl", _cupy_backend())
    assert isinstance(resolve("auto", _cupy_backend()), _StubMPI)


def test_nccl_mode_on_one_rank_is_a_single_process(fake_nccl, monkeypatch):
    monkeypatch.setattr(nccl, "import_mpi", lambda: SimpleNamespace(COMM_WORLD=_one_rank()))
    assert resolve("nccl", _cupy_backend()) is None


def _one_rank():
    return ThreadWorld(1).member(0)


class _StubMPI:
    rank, size, cuda_aware, library = 0, 2, False, "stub MPI"
    poll = None

    def allreduce(self, buffer):
        pass

    def abort(self, code=1):
        raise SystemExit(code)


@pytest.fixture
def two_ranks(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.setattr(communicator, "MPICommunicator", _StubMPI)
    monkeypatch.setattr(nccl, "import_mpi", lambda: SimpleNamespace(COMM_WORLD=_one_rank()))


def test_auto_picks_nccl_for_cupy_gpus_else_mpi(fake_nccl, two_ranks):
    assert isinstance(resolve("auto", _cupy_backend("cuda:1")), NcclCommunicator)
    assert isinstance(resolve("auto", get_backend("numpy")), _StubMPI)
    assert isinstance(resolve("auto"), _StubMPI)
    fake_nccl[1].available = False
    assert isinstance(resolve("auto", _cupy_backend()), _StubMPI)


def test_auto_without_cupy_is_mpi(two_ranks, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert isinstance(resolve("auto", _cupy_backend()), _StubMPI)


def test_data_parallel_passes_the_backend_on(fake_nccl, two_ranks):
    dp = DataParallel.create("auto", backend=_cupy_backend())
    assert dp is not None and isinstance(dp.communicator, NcclCommunicator)


def test_info_line_without_importing_cupy(monkeypatch):
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    reason = nccl_status()
    if reason is None:
        pytest.skip("cupy with NCCL is installed here")
    assert format_nccl(reason).startswith("nccl: no (")
    if reason == "cupy is not installed":
        assert "cupy" not in sys.modules


def test_info_line_with_nccl(fake_nccl):
    assert nccl_status() is None
    assert format_nccl(None).startswith("nccl: yes")
