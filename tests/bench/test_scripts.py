"""bench/streams.py and bench/gpu_check.sh do what they can without a GPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tfnn.backends import available_backends

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def test_streams_on_the_simulated_device(tmp_path):
    out = tmp_path / "streams.json"
    result = _run(
        "bench/streams.py",
        "--simulate",
        "--sizes",
        "64,128",
        "--streams",
        "1,2",
        "--length",
        "4",
        "--repeats",
        "2",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["simulated"] is True
    for size in ("64", "128"):
        assert data["sizes"][size]["speedup_vs_first"]["1"] == 1.0
        assert len(data["sizes"][size]["raw_seconds"]["2"]) == 2


@pytest.mark.skipif(available_backends()["cupy"] is None, reason="cupy is usable here")
def test_streams_without_cupy_says_why():
    result = _run("bench/streams.py")
    assert result.returncode == 1
    assert "needs cupy and an NVIDIA GPU" in result.stderr
    assert "--simulate" in result.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_check_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(ROOT / "bench/gpu_check.sh")], capture_output=True)
    assert result.returncode == 0, result.stderr
