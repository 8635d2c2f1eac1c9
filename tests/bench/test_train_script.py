"""bench/train.py end to end on full MNIST (slow: about a minute; needs ../shared/data/mnist)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared/data/mnist"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not DATA.is_dir(), reason=f"full MNIST not at {DATA}")
def test_train_benchmark_writes_speed_accuracy_and_targets(tmp_path):
    out = tmp_path / "train.json"
    args = ["--repeats", "1", "--accuracy-epochs", "1", "--no-memory", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "bench/train.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert [w["name"] for w in data["workloads"]] == ["mlp/b128", "taskflow-mnist/b100"]
    for w in data["workloads"]:
        assert {"numpy-loop", "torch-cpu", "tfnn-numpy-condition-w2b1"} <= set(w["contenders"])
    assert len(data["targets"]) == 5
    assert data["accuracy"]["taskflow-mnist"]["test_accuracy"][0] > 0.85
