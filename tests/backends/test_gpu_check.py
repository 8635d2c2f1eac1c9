"""bench/gpu_check.sh on a machine without a GPU: every step runs on its own, writes its log
and status as it goes, and the summary and a non-zero exit say what failed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.sh"
STEPS = ["gpu", "deps", "tests", "streams", "bench", "mpi", "nccl"]

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("timeout") is None,
    reason="needs bash and coreutils' timeout",
)


def run_check(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    stub = tmp_path / "bin"
    stub.mkdir()
    # A driver-less nvidia-smi, so the first step fails here as on a broken GPU machine.
    (stub / "nvidia-smi").write_text("#!/bin/sh\necho 'no NVIDIA driver (stub)' >&2\nexit 9\n")
    (stub / "nvidia-smi").chmod(0o755)
    out = tmp_path / "out"
    env = dict(os.environ, PATH=f"{stub}{os.pathsep}{os.environ['PATH']}", OUT=str(out))
    env["PYTHON"] = sys.executable
    done = subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=100
    )
    rows = (out / "status.tsv").read_text().splitlines()
    statuses = {name: status for name, status, _ in (row.split("\t") for row in rows)}
    return done, statuses


def test_failing_steps_do_not_stop_the_others_and_the_exit_says_so(tmp_path):
    done, statuses = run_check(tmp_path, "--only", "gpu,deps,streams")
    assert done.returncode == 1, done.stdout + done.stderr
    assert statuses == {
        "gpu": "failed (exit 9)",  # the first step failed, and everything after it still ran
        "deps": "ok",
        "tests": "skipped",
        "streams": "failed (exit 1)",  # bench/streams.py without cupy
        "bench": "skipped",
        "mpi": "skipped",
        "nccl": "skipped",
    }
    out = tmp_path / "out"
    assert "no NVIDIA driver (stub)" in (out / "gpu.log").read_text()
    assert "numpy" in (out / "deps.log").read_text()  # tfnn info ran after the failure
    assert "needs cupy" in (out / "streams.log").read_text()
    summary = (out / "summary.txt").read_text()
    assert all(step in summary for step in STEPS)
    assert summary in done.stdout


def test_dry_run_writes_every_log_and_status_and_passes(tmp_path):
    done, statuses = run_check(tmp_path, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert statuses == dict.fromkeys(STEPS, "skipped")
    for step in STEPS:
        assert (tmp_path / "out" / f"{step}.log").read_text().startswith("$ ")
