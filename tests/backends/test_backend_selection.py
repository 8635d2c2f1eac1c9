"""Choosing a backend: precedence, and an error that says what to do for each wrong choice."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from tfnn.backends import BackendError, available_backends, describe_backends, get_backend


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("TFNN_BACKEND", raising=False)
    monkeypatch.delenv("TFNN_DEVICE", raising=False)
    return monkeypatch


def fake_cupy(monkeypatch, device_count):
    """Put a cupy in sys.modules whose runtime reports ``device_count`` (an int or an error)."""

    class CUDARuntimeError(RuntimeError):
        pass

    def get_device_count():
        if isinstance(device_count, str):
            raise CUDARuntimeError(device_count)
        return device_count

    cupy = types.ModuleType("cupy")
    cupy.__version__ = "13.6.0"
    runtime = types.SimpleNamespace(
        getDeviceCount=get_device_count, CUDARuntimeError=CUDARuntimeError
    )
    cupy.cuda = types.SimpleNamespace(runtime=runtime)
    monkeypatch.setitem(sys.modules, "cupy", cupy)


class TestPrecedence:
    def test_default_is_numpy_on_cpu(self, clean_env):
        backend = get_backend()
        assert (backend.name, backend.device) == ("numpy", "cpu")

    def test_environment_chooses_when_no_argument_does(self, clean_env):
        clean_env.setenv("TFNN_BACKEND", "array_api_strict")
        clean_env.setenv("TFNN_DEVICE", "cpu:1")
        backend = get_backend()
        assert (backend.name, backend.device) == ("array_api_strict", "cpu:1")

    def test_argument_beats_environment(self, clean_env):
        clean_env.setenv("TFNN_BACKEND", "cupy")
        clean_env.setenv("TFNN_DEVICE", "cuda:3")
        backend = get_backend("array_api_strict", "cpu:2")
        assert (backend.name, backend.device) == ("array_api_strict", "cpu:2")

    def test_cupy_defaults_to_a_gpu_not_the_cpu(self, clean_env):
        fake_cupy(clean_env, device_count=0)
        with pytest.raises(BackendError, match="sees no CUDA device"):
            get_backend("cupy")


class TestErrors:
    def test_unknown_backend_lists_the_known_ones(self, clean_env):
        with pytest.raises(BackendError, match="unknown backend 'jax'") as info:
            get_backend("jax")
        for name in ("numpy", "array_api_strict", "torch", "cupy"):
            assert name in str(info.value)

    def test_unknown_backend_from_the_environment(self, clean_env):
        clean_env.setenv("TFNN_BACKEND", "nupmy")
        with pytest.raises(BackendError, match="unknown backend 'nupmy'"):
            get_backend()

    def test_cupy_not_installed_names_the_pip_extras(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "cupy", None)
        with pytest.raises(BackendError, match="not installed") as info:
            get_backend("cupy", "cuda:0")
        assert "pip install 'tfnn[cuda12]'" in str(info.value)
        assert "'tfnn[cuda13]'" in str(info.value)
        assert "tfnn[cuda12]" in available_backends()["cupy"]

    def test_torch_not_installed_names_the_pip_extra(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "torch", None)
        with pytest.raises(BackendError, match=r"pip install 'tfnn\[torch\]'"):
            get_backend("torch", "cpu")
        assert "tfnn[torch]" in available_backends()["torch"]

    def test_cupy_without_a_driver_says_what_to_check(self, monkeypatch):
        fake_cupy(monkeypatch, device_count="cudaErrorInsufficientDriver")
        with pytest.raises(BackendError, match="sees no CUDA device") as info:
            get_backend("cupy", "cuda:0")
        assert "cudaErrorInsufficientDriver" in str(info.value)
        assert "nvidia-smi" in str(info.value)
        row = next(i for i in describe_backends() if i.name == "cupy")
        assert not row.usable and row.version == "13.6.0"

    def test_gpu_index_out_of_range_says_how_many_exist(self, monkeypatch):
        fake_cupy(monkeypatch, device_count=2)
        with pytest.raises(BackendError, match="sees 2 CUDA devices") as info:
            get_backend("cupy", "cuda:2")
        assert "cuda:0 to cuda:1" in str(info.value)

    def test_cupy_refuses_the_cpu(self, monkeypatch):
        fake_cupy(monkeypatch, device_count=1)
        with pytest.raises(BackendError, match="runs on CUDA devices"):
            get_backend("cupy", "cpu")

    @pytest.mark.parametrize("name", ["numpy", "array_api_strict", "torch", "cupy"])
    @pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:-1", "cpu:", "cpu:1:2", " "])
    def test_malformed_device(self, monkeypatch, name, device):
        fake_cupy(monkeypatch, device_count=1)
        with pytest.raises(BackendError, match="malformed device"):
            get_backend(name, device)

    def test_numpy_runs_on_the_cpu_only(self):
        with pytest.raises(BackendError, match="CPU only"):
            get_backend("numpy", "cuda:0")

    def test_strict_lists_its_fake_devices(self):
        with pytest.raises(BackendError, match="cpu:1 and cpu:2"):
            get_backend("array_api_strict", "cpu:7")

    def test_torch_without_cuda_says_so(self):
        torch = pytest.importorskip("torch")
        if torch.cuda.is_available():
            pytest.skip("torch sees a GPU here")
        with pytest.raises(BackendError, match="sees no CUDA device"):
            get_backend("torch", "cuda:0")

    @pytest.mark.gpu
    def test_torch_gpu_index_out_of_range(self):
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("torch sees no GPU here")
        with pytest.raises(BackendError, match="does not exist"):
            get_backend("torch", f"cuda:{torch.cuda.device_count()}")


def test_importing_tfnn_imports_neither_cupy_nor_torch():
    code = (
        "import sys, tfnn, tfnn.backends, tfnn.cli\n"
        "tfnn.backends.get_backend('numpy').rng(0).normal((2,))\n"
        "print(sorted(m for m in ('cupy', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_describe_backends_has_a_row_per_backend():
    rows = {info.name: info for info in describe_backends()}
    assert set(rows) == {"numpy", "array_api_strict", "torch", "cupy"}
    assert rows["numpy"].usable and rows["numpy"].version
    assert [d.device for d in rows["array_api_strict"].devices] == ["cpu", "cpu:1", "cpu:2"]
    assert available_backends()["numpy"] is None
