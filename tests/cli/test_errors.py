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
        (["--distributed", "nccl"], "use --backend cupy"),
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
    assert "the training loss" in line and "--lr" in line
    tensors, meta = load_checkpoint(tmp_path / "ck.safetensors")
    # Saved at every evaluation until the one that found the loss NaN, which saved nothing.
    assert 1 <= meta["step"] < 60
    assert all(math.isfinite(loss) for loss in meta["history"]["loss"])
    assert all(np.isfinite(t).all() for t in tensors.values())


def test_a_bug_in_a_task_keeps_its_traceback_naming_the_task(monkeypatch, capsys):
    from tfnn.executor import TaskError

    def broken(self, logits, labels):
        raise RuntimeError("the loss broke")

    monkeypatch.setattr(SoftmaxCrossEntropy, "forward", broken)
    for name in ("TFNN_DATA_DIR", "TFNN_BACKEND", "TFNN_DEVICE", "TFNN_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(TaskError) as raised:
        main(["train", *SMALL, "--epochs", "1"])
    assert raised.value.task == "loss"
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_a_bug_in_an_op_prints_a_traceback(tfnn, tmp_path):
    # An injected broadcast error in ReLU, through a sitecustomize the subprocess imports.
    (tmp_path / "sitecustomize.py").write_text(
        "from tfnn.nn import functional as F, activation\n"
        "import numpy as np\n"
        "def broken(x):\n"
        "    return np.ones((3, 5)) + x, x\n"
        "activation.ReLU._forward = staticmethod(broken)\n"
    )
    result = tfnn("train", *SMALL, "--epochs", "1", env={"PYTHONPATH": _pythonpath(tmp_path)})
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "operands could not be broadcast" in result.stderr and "'F1'" in result.stderr
    assert "tfnn: error:" not in result.stderr


def _pythonpath(first) -> str:
    import os

    return os.pathsep.join([str(first), *os.environ.get("PYTHONPATH", "").split(os.pathsep)])


@pytest.mark.parametrize("how", [["--traceback"], []], ids=["flag", "env"])
def test_traceback_flag_or_debug_variable_prints_the_traceback_of_a_user_error(tfnn, how):
    env = {} if how else {"TFNN_DEBUG": "1"}
    result = tfnn("train", *SMALL, "--epochs", "1", *how, "--resume", env=env)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("tfnn: error: --resume needs")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--seed", "-5"], "--seed"),
        (["--checkpoint", ""], "--checkpoint '' names no path"),
        (["--trace", ""], "--trace '' names no path"),
        (["--optimizer", "adam", "--momentum", "0.5"], "--momentum applies to sgd"),
        (["--strategy", "sequential", "--trace", "t.json"], "--trace would be empty"),
        (["--checkpoint", "c1.st", "--trace", "c1.st"], "same file"),
        (["--metrics", "m.jsonl", "--trace", "./m.jsonl"], "same file"),
        (["--trace", "no/such/folder/t.json"], "no/such/folder does not exist"),
        (["--layers", "784,100000000,10"], "use smaller layers"),
        (["--workers", "0"], "--workers"),
        (["--blas-threads", "0"], "--blas-threads"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_bad_flags_found_before_training(tfnn, tmp_path, args, says):
    line = _one_error_line(tfnn("train", *SMALL, "--epochs", "1", *args))
    assert says in line
    assert list(tmp_path.iterdir()) == [], "nothing may be written"


@pytest.mark.parametrize("flag", ["--trace", "--metrics", "--checkpoint"])
def test_an_output_never_replaces_an_input(tfnn, tmp_path, shared_or_sample_copy, flag):
    data = shared_or_sample_copy
    target = data / "train-labels-idx1-ubyte.gz"
    before = target.read_bytes()
    args = [flag, str(target)] + (["--resume"] if flag == "--checkpoint" else [])
    line = _one_error_line(tfnn("train", *SMALL, "--epochs", "1", "--data-dir", str(data), *args))
    assert "input" in line and str(target) in line
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    ("flag", "content", "kind"),
    [
        ("--trace", b"PK\x03\x04 a zip", "JSON trace"),
        ("--metrics", b"\x1f\x8b gzip", "JSON-lines metrics"),
        ("--trace", None, "JSON trace"),  # a checkpoint is not a trace
    ],
    ids=["trace-zip", "metrics-gzip", "trace-checkpoint"],
)
def test_an_output_never_replaces_a_file_of_another_kind(tfnn, tmp_path, flag, content, kind):
    target = tmp_path / "out.file"
    if content is None:
        assert tfnn("train", *SMALL, "--epochs", "1", "--checkpoint", "out.file").returncode == 0
    else:
        target.write_bytes(content)
    before = target.read_bytes()
    line = _one_error_line(tfnn("train", *SMALL, "--epochs", "1", flag, "out.file"))
    assert f"out.file exists and is not a {kind}" in line and "move the file away" in line
    assert target.read_bytes() == before


def test_a_corrupt_label_blames_the_file(tfnn, tmp_path, shared_or_sample_copy):
    from tfnn.data import read_idx, write_idx

    labels_path = shared_or_sample_copy / "train-labels-idx1-ubyte.gz"
    labels = read_idx(labels_path)
    labels[5] = 200
    write_idx(labels_path, labels)
    line = _one_error_line(tfnn("train", *SMALL, "--data-dir", str(shared_or_sample_copy)))
    assert "label 200" in line and "train-labels-idx1-ubyte.gz" in line and "corrupt" in line
    assert "--layers" not in line


def test_data_dir_errors_do_not_suggest_downloading(tfnn, tmp_path):
    (tmp_path / "empty").mkdir()
    line = _one_error_line(tfnn("train", "--data-dir", "empty"))
    assert "download" not in line and "embedded sample" in line


@pytest.fixture
def shared_or_sample_copy(tmp_path):
    """A folder with the four MNIST files (a copy of the embedded sample)."""
    import shutil

    from tfnn.data.sample import SAMPLE_DIR

    folder = tmp_path / "mnist"
    folder.mkdir()
    for path in SAMPLE_DIR.glob("*-ubyte.gz"):
        shutil.copy(path, folder / path.name)
    return folder
