"""``tfnn info`` and the command line's handling of bad usage."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tfnn.cli
from tfnn.backends import BackendError, BackendInfo, DeviceInfo, MemoryInfo
from tfnn.cli import format_backends, main


def _row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.split()[:1] == [name])


def test_info_lists_numpy_usable_and_cupy_not_with_a_reason(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert main(["info"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[0].split() == ["backend", "usable", "version", "device", "details"]
    assert _row(out, "numpy").split()[1:4] == ["yes", np.__version__, "cpu"]
    cupy = _row(out, "cupy")
    assert cupy.split()[1] == "no"
    assert "pip install 'tfnn[cuda12]'" in cupy


def test_format_shows_gpu_name_and_memory():
    gpu = DeviceInfo("cuda:0", "NVIDIA H100", MemoryInfo(free=2**30, total=80 * 2**30))
    table = format_backends(
        [BackendInfo("cupy", None, "13.6.0", (gpu, DeviceInfo("cuda:1", "NVIDIA H100")))]
    )
    first, second = table.splitlines()[1:]
    assert first.split()[:4] == ["cupy", "yes", "13.6.0", "cuda:0"]
    assert first.endswith("NVIDIA H100, 1.0 GiB free of 80.0 GiB")
    assert second.split() == ["cuda:1", "NVIDIA", "H100"]


@pytest.mark.parametrize(
    "argv", [["frobnicate"], ["info", "--no-such-flag"], [], ["--backend"]], ids=str
)
def test_bad_usage_is_one_line_on_stderr(capsys, argv):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("tfnn: error: ") and "--help" in err


def test_help_returns_0(capsys):
    assert main(["--help"]) == 0
    assert "info" in capsys.readouterr().out


def test_a_backend_error_is_one_line_and_exit_1(monkeypatch, capsys):
    def broken():
        raise BackendError("backend 'cupy' sees no CUDA device\n(cudaErrorNoDevice); check")

    monkeypatch.setattr(tfnn.cli, "describe_backends", broken)
    assert main(["info"]) == 1
    assert capsys.readouterr().err == (
        "tfnn: error: backend 'cupy' sees no CUDA device (cudaErrorNoDevice); check\n"
    )


def test_the_process_exits_non_zero_without_a_traceback():
    code = "import sys, tfnn.cli; sys.exit(tfnn.cli.main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "frobnicate"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_version_prints_the_one_version(capsys):
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib", reason="Python < 3.11 has no tomllib")

    import tfnn

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tfnn {tfnn.__version__}"
    project = tomllib.loads((Path(tfnn.__file__).parents[1] / "pyproject.toml").read_text())
    # Written once: pyproject reads it from tfnn/__init__.py.
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tfnn.__version__"}


def test_the_license_file_matches_the_declared_license():
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib", reason="Python < 3.11 has no tomllib")

    import tfnn

    root = Path(tfnn.__file__).parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert (root / "LICENSE").read_text().startswith("MIT License")
