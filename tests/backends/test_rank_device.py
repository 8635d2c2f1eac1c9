"""A GPU backend with no device given takes its rank's GPU under a launcher (issue 10):
``get_backend`` over fake launcher variables and fake GPU counts, no GPU needed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tfnn.backends import cupy_backend, get_backend, torch_backend
from tfnn.backends.streams import PoolCache
from tfnn.parallel import launcher
from tfnn.placement import _LAUNCHERS, placement, rank_gpu

from .fake_cuda import FakeCuda, fake_cupy

RANK_3_OF_4 = {"PMI_SIZE": "4", "PMI_RANK": "3", "MPI_LOCALRANKID": "3"}


@pytest.fixture
def launched(monkeypatch):
    """Set this process's launcher variables: ``launched({...})``; none by default."""
    for _, *names in _LAUNCHERS:
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TFNN_DEVICE", raising=False)
    monkeypatch.delenv("TFNN_BACKEND", raising=False)

    def launch(env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return launch


@pytest.fixture
def fake_gpus(monkeypatch):
    """cupy over a stand-in with ``n`` GPUs: ``fake_gpus(n)``."""
    monkeypatch.setattr(cupy_backend, "_POOLS", PoolCache())
    monkeypatch.setattr(cupy_backend, "_ORDERS", {})
    monkeypatch.setattr(cupy_backend, "_namespace", lambda: SimpleNamespace(name="xp"))

    def gpus(n):
        cupy = fake_cupy(FakeCuda(devices=n))
        monkeypatch.setattr(cupy_backend, "_import_cupy", lambda: cupy)

    return gpus


class _RecordingTorch:
    def __init__(self, device):
        self.device = device


@pytest.mark.parametrize(
    ("env", "count", "expected"),
    [
        (RANK_3_OF_4, 2, "cuda:1"),
        (RANK_3_OF_4, 4, "cuda:3"),
        (RANK_3_OF_4, 0, None),  # no GPU: the backend's default
        ({"PMI_SIZE": "1", "PMI_RANK": "0"}, 2, None),  # one rank: no choice to make
        ({}, 2, None),
    ],
)
def test_rank_gpu(env, count, expected):
    assert rank_gpu(lambda: count, env) == expected


def test_cupy_rank_takes_its_gpu(launched, fake_gpus):
    fake_gpus(2)
    launched(RANK_3_OF_4)
    assert get_backend("cupy").device == "cuda:1"
    assert get_backend("cupy", "cuda:0").device == "cuda:0"  # an explicit device wins


def test_cupy_single_process_keeps_cuda0(launched, fake_gpus):
    fake_gpus(2)
    assert get_backend("cupy").device == "cuda:0"


def test_tfnn_device_wins_over_the_rank(launched, fake_gpus, monkeypatch):
    fake_gpus(2)
    launched(RANK_3_OF_4)
    monkeypatch.setenv("TFNN_DEVICE", "cuda:0")
    assert get_backend("cupy").device == "cuda:0"


def test_torch_rank_takes_its_gpu_and_stays_on_cpu_without_one(launched, monkeypatch):
    monkeypatch.setattr(torch_backend, "TorchBackend", _RecordingTorch)
    launched({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"})
    monkeypatch.setattr(torch_backend, "device_count", lambda: 0)
    assert get_backend("torch").device == "cpu"
    monkeypatch.setattr(torch_backend, "device_count", lambda: 2)
    assert get_backend("torch").device == "cuda:1"
    monkeypatch.setenv("TFNN_BACKEND", "torch")
    assert get_backend().device == "cuda:1"  # Trainer's default backend too


def test_host_backends_ignore_the_rank(launched):
    launched(RANK_3_OF_4)
    assert get_backend("numpy").device == "cpu"


def test_device_count_is_zero_without_the_library(monkeypatch):
    def missing():
        raise cupy_backend.BackendError("no cupy")

    monkeypatch.setattr(cupy_backend, "_import_cupy", missing)
    assert cupy_backend.device_count() == 0


def test_one_placement_for_backends_and_launcher():
    # The CLI, the Trainer and the backends read one definition (no second copy).
    assert launcher.placement is placement
    assert launcher.rank_gpu is rank_gpu
