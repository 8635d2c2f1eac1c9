"""Checkpoints: exact round trips, atomic replacement, and clear errors for files that are not."""

from __future__ import annotations

import os

import numpy as np
import pytest
import safetensors.numpy

from tfnn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def tensors():
    rng = np.random.default_rng(0)
    return {
        "w32": rng.standard_normal((3, 4)).astype(np.float32),
        "w64": rng.standard_normal(5),
        "steps": np.arange(6, dtype=np.int64).reshape(2, 3),
        "mask": np.array([True, False]),
        "scalar": np.array(2.5, dtype=np.float32),
        "strided": np.arange(10, dtype=np.int32)[::3],
        "empty": np.zeros((0, 7), dtype=np.float32),
    }


def metadata():
    rng = np.random.default_rng(123)
    rng.standard_normal(7)
    return {
        "epoch": 3,
        "step": np.int64(120),
        "strategy": "condition",
        "model": {"layers": [784, 64, 10], "activation": "relu"},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False},
        "rng": rng.bit_generator.state,
        "best": None,
    }


def test_round_trip(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, tensors(), metadata())
    loaded, meta = load_checkpoint(path)
    assert loaded.keys() == tensors().keys()
    for name, expected in tensors().items():
        assert loaded[name].dtype == expected.dtype, name
        assert loaded[name].shape == expected.shape, name
        np.testing.assert_array_equal(loaded[name], expected)
    assert loaded["w32"].flags.writeable
    assert meta == {**metadata(), "step": 120}


def test_rng_state_resumes_the_same_stream(tmp_path):
    rng = np.random.default_rng(7)
    rng.random(3)
    save_checkpoint(tmp_path / "c", {}, {"rng": rng.bit_generator.state})
    _, meta = load_checkpoint(tmp_path / "c")
    resumed = np.random.default_rng()
    resumed.bit_generator.state = meta["rng"]
    np.testing.assert_array_equal(resumed.random(5), rng.random(5))


def test_parent_directories_are_created(tmp_path):
    save_checkpoint(tmp_path / "run" / "a" / "c", {"x": np.ones(2)}, {})
    assert load_checkpoint(tmp_path / "run" / "a" / "c")[1] == {}


def old_checkpoint(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, {"x": np.zeros(3)}, {"epoch": 1})
    return path, path.read_bytes()


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failure_mid_write_keeps_the_old_checkpoint(tmp_path, monkeypatch, failing):
    path, before = old_checkpoint(tmp_path)

    def fail(*args):
        raise OSError(f"simulated {failing} failure")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OSError, match=r"simulated"):
        save_checkpoint(path, {"x": np.ones(1000)}, {"epoch": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_failed_write_names_the_checkpoint_not_its_temporary_file(tmp_path, monkeypatch):
    import errno

    path, before = old_checkpoint(tmp_path)
    real_open = os.open

    def full_disk(name, *args, **kwargs):
        if os.fspath(name).endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device", os.fspath(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", full_disk)
    with pytest.raises(OSError) as raised:
        save_checkpoint(path, {"x": np.ones(3)}, {"epoch": 2})
    monkeypatch.undo()
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(path) and ".tmp" not in str(raised.value)
    assert path.read_bytes() == before


def test_interrupt_mid_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path, before = old_checkpoint(tmp_path)

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"x": np.ones(3)}, {"epoch": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(
    ("tensors_", "metadata_", "match"),
    [
        ({"x": [1, 2]}, {}, "numpy array"),
        ({"x": np.array([object()])}, {}, "cannot store the tensors"),
        ({"x": np.ones(2)}, {"weights": np.ones(2)}, "not JSON-serialisable"),
        ({"x": np.ones(2)}, [1], "must be a dict"),
    ],
    ids=["list", "object-dtype", "array-in-metadata", "metadata-list"],
)
def test_bad_input_fails_before_touching_the_disk(tmp_path, tensors_, metadata_, match):
    path, before = old_checkpoint(tmp_path)
    with pytest.raises(TypeError, match=match):
        save_checkpoint(path, tensors_, metadata_)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("keep", [0.5, 0.99, 10], ids=["half", "last-byte", "header"])
def test_truncated_file_is_a_clear_error(tmp_path, keep):
    path, before = old_checkpoint(tmp_path)
    path.write_bytes(before[: int(len(before) * keep) if keep < 1 else keep])
    with pytest.raises(CheckpointError, match=r"ckpt.safetensors is not a readable checkpoint"):
        load_checkpoint(path)


def test_foreign_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors.numpy.save({"w": np.ones(2)}, {"framework": "other"}))
    with pytest.raises(CheckpointError, match=r"model.safetensors .* not a tfnn checkpoint"):
        load_checkpoint(path)


def test_newer_format_version_asks_for_an_upgrade(tmp_path):
    path = tmp_path / "future.safetensors"
    tags = {"format": "tfnn-checkpoint", "version": "99", "metadata": "{}"}
    path.write_bytes(safetensors.numpy.save({"w": np.ones(2)}, tags))
    with pytest.raises(CheckpointError, match=r"version '99'.*upgrade tfnn"):
        load_checkpoint(path)


def test_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a checkpoint at all, just some text\n" * 3)
    with pytest.raises(CheckpointError, match=r"notes.txt") as info:
        load_checkpoint(path)
    assert isinstance(info.value, ValueError)
