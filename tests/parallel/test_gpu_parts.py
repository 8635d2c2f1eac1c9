"""The GPU parts of tfnn.parallel on a real GPU (``pytest -m gpu``, bench/gpu_check.sh's
"tests" step): pinned host staging with cupy and torch, and a one-rank NCCL allreduce
through cupy. They skip with the reason where no GPU, cupy, NCCL or MPI is usable."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn.backends import BackendError, get_backend
from tfnn.parallel import DistributedError
from tfnn.parallel.staging import HostStaging

pytestmark = pytest.mark.gpu


def _gpu_backend(name):
    try:
        return get_backend(name, "cuda:0")
    except BackendError as e:
        pytest.skip(f"{name} on cuda:0 not usable here: {e}")


@pytest.mark.parametrize("name", ["cupy", "torch"])
def test_pinned_staging_round_trips_on_the_gpu(name):
    backend = _gpu_backend(name)
    staging = HostStaging(backend, [1000])
    assert staging.pinned
    first = None
    for step in range(3):
        values = np.arange(1000, dtype=np.float32) + step
        flat = backend.asarray(values)
        host = staging.to_host(0, flat)
        np.testing.assert_array_equal(host, values)
        first = first if first is not None else host
        assert host is first
        host *= 2
        out = staging.to_device(0)
        np.testing.assert_array_equal(backend.to_numpy(out), 2 * values)
        host[...] = -1  # the device copy is fresh: later writes do not reach it
        np.testing.assert_array_equal(backend.to_numpy(out), 2 * values)


def test_nccl_allreduce_of_one_rank():
    backend = _gpu_backend("cupy")
    pytest.importorskip("mpi4py", reason="NCCL starts over MPI: pip install 'tfnn[mpi]'")
    from tfnn.parallel.nccl import NcclCommunicator

    try:
        comm = NcclCommunicator(backend.device)
    except DistributedError as e:
        pytest.skip(str(e))
    grads = backend.asarray(np.arange(10, dtype=np.float32))
    comm.allreduce(grads)
    np.testing.assert_array_equal(backend.to_numpy(grads), np.arange(10, dtype=np.float32))
    counts = np.array([1.0, 2.0])
    comm.allreduce(counts)
    np.testing.assert_array_equal(counts, [1.0, 2.0])
    assert comm.library.startswith("NCCL ")
