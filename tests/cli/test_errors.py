"""Whatever a user gets wrong, ``tfnn train`` says so in one line on stderr, exits non-zero,
and leaves every file it was given as it was."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfnn.checkpoint import load_checkpoint
from tfnn.cli import main
from tfnn.nn import SoftmaxCrossEntropy

SMALL = ["--layers", "784,32,10", "--batch-size", "100"]


def _one_error_line(result) -> str:
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tfnn: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--layers", "784,x,10"], "--layers"),
        (["--layers", "100,10"], "--layers 784,"),
        (["--layers", "784,32,5"], "end --layers with 10"),
        (["--strategy", "bogus"], "--strategy"),
        (["--lr", "nan"], "--lr"),
        (["--epochs", "0"], "--epochs"),
        (["--resume"], "--checkpoint"),
        (["--backend", "nonesuch"], "tfnn info"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_bad_flags(tfnn, args, says):
    assert says in _one_error_line(tfnn("train", *SMALL, "--epochs", "1", *args))


def test_data_dir_without_mnist_files(tfnn, tmp_path):
    (tmp_path / "empty").mkdir()
    line = _one_error_line(tfnn("train", "--data-dir", "empty"))
    assert "train-images-idx3-ubyte" in line


def test_data_dir_from_the_environment(tfnn, tmp_path):
    (tmp_path / "empty").mkdir()
    line = _one_error_line(tfnn("train", env={"TFNN_DATA_DIR": "empty"}))
    assert "$TFNN_DATA_DIR" in line


def test_backend_from_the_environment_and_the_flag_beats_it(tfnn):
    env = {"TFNN_BACKEND": "nonesuch"}
    assert "'nonesuch'" in _one_error_line(tfnn("train", *SMALL, env=env))
    result = tfnn("train", *SMALL, "--epochs", "1", "--backend", "numpy", env=env)
    assert result.returncode == 0, result.stderr
    assert "backend numpy  device cpu" in result.stdout


def test_garbage_checkpoint_is_refused_and_kept(tfnn, tmp_path):
    garbage = bytes(range(256)) * 4
    (tmp_path / "ck.safetensors").write_bytes(garbage)
    line = _one_error_line(tfnn("train", *SMALL, "--checkpoint", "ck.safetensors", "--resume"))
    assert "ck.safetensors is not a readable checkpoint" in line
    assert (tmp_path / "ck.safetensors").read_bytes() == garbage


def test_existing_checkpoint_is_not_overwritten_without_resume(tfnn, tmp_path):
    (tmp_path / "ck.safetensors").write_bytes(b"an earlier run")
    line = _one_error_line(tfnn("train", *SMALL, "--checkpoint", "ck.safetensors"))
    assert "--resume" in line
    assert (tmp_path / "ck.safetensors").read_bytes() == b"an earlier run"


def test_diverged_run_keeps_the_last_good_checkpoint(tfnn, tmp_path):
    args = ["--lr", "1e6", "--eval-every", "1", "--checkpoint", "ck.safetensors"]
    line = _one_error_line(tfnn("train", *SMALL, *args))
    assert "the training loss became nan" in line and "--lr" in line
    tensors, meta = load_checkpoint(tmp_path / "ck.safetensors")
    # Saved at every evaluation until the one that found the loss NaN, which saved nothing.
    assert 1 <= meta["step"] < 60
    assert all(math.isfinite(loss) for loss in meta["history"]["loss"])
    assert all(np.isfinite(t).all() for t in tensors.values())


def test_a_failing_task_is_one_line_naming_the_task(monkeypatch, capsys):
    def broken(self, logits, labels):
        raise RuntimeError("the loss broke")

    monkeypatch.setattr(SoftmaxCrossEntropy, "forward", broken)
    monkeypatch.delenv("TFNN_DATA_DIR", raising=False)
    monkeypatch.delenv("TFNN_BACKEND", raising=False)
    monkeypatch.delenv("TFNN_DEVICE", raising=False)
    assert main(["train", *SMALL, "--epochs", "1"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "task 'loss'" in lines[0] and "RuntimeError: the loss broke" in lines[0]
