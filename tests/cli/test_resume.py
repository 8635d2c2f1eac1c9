"""A run killed with SIGKILL and resumed ends with bitwise the weights of an unbroken run.

The killed run is stopped at a random, seeded point after its first checkpoint: after a
random number of further evaluations (each one a checkpoint write) plus a random fraction
of a millisecond or so, so the kill can land mid-step or mid-write.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.cli.conftest import tfnn_env
from tfnn.checkpoint import load_checkpoint

# 120 steps an epoch, 5 epochs, an evaluation and checkpoint every 5 steps: 120 in all.
TRAIN = [
    "train",
    "--layers", "784,32,10",
    "--epochs", "5",
    "--batch-size", "50",
    "--eval-every", "5",
    "--strategy", "condition",
    "--seed", "3",
]  # fmt: skip
EVALUATIONS = 120


def _start(tmp_path, checkpoint: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tfnn", *TRAIN, "--checkpoint", checkpoint, *extra],
        cwd=tmp_path,
        env=tfnn_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> None:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.splitlines()[-1].startswith("accuracy ")


def _kill_after_first_checkpoint(process: subprocess.Popen[str], checkpoint, rng) -> None:
    assert process.stdout is not None
    assert process.stdout.readline().startswith("data: ")
    assert process.stdout.readline().startswith("epoch ")
    # The Trainer saves before it reports, so the first evaluation line means a checkpoint.
    assert checkpoint.exists()
    for _ in range(rng.randrange(EVALUATIONS // 2)):
        process.stdout.readline()
    time.sleep(rng.uniform(0.0, 0.002))
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"


@pytest.mark.parametrize("seed", [0, 1])
def test_killed_and_resumed_run_matches_an_unbroken_one(tmp_path, seed):
    rng = random.Random(seed)
    unbroken = _start(tmp_path, "unbroken.safetensors")
    killed = _start(tmp_path, "killed.safetensors")
    _kill_after_first_checkpoint(killed, tmp_path / "killed.safetensors", rng)
    _finish(unbroken)
    stopped_at = load_checkpoint(tmp_path / "killed.safetensors")[1]["history"]["steps"]
    _finish(_start(tmp_path, "killed.safetensors", "--resume"))

    expected, expected_meta = load_checkpoint(tmp_path / "unbroken.safetensors")
    got, meta = load_checkpoint(tmp_path / "killed.safetensors")
    assert 5 <= stopped_at < meta["history"]["steps"] == expected_meta["history"]["steps"] == 600
    assert sorted(got) == sorted(expected)
    assert any(name.startswith("model/") for name in got)
    for name, tensor in expected.items():
        assert got[name].dtype == tensor.dtype
        assert got[name].tobytes() == tensor.tobytes(), name
    for key in ("loss", "accuracy", "step", "epoch"):
        assert meta["history"][key] == expected_meta["history"][key], key
    assert np.isfinite(meta["history"]["loss"]).all()
