"""Whatever a user gets wrong, ``tfnn train`` says so in one line on stderr, exits non-zero,
and leaves every file it was given as it was."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfnn.checkpoint import load_checkpoint

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
