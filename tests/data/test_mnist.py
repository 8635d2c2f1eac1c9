"""load_mnist: the official files, the resolution order of folders, and inconsistent files."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn.data import DataError, load_mnist
from tfnn.data.fetch import gunzip_md5
from tfnn.data.idx import read_idx, write_idx
from tfnn.data.mnist import FILES, MD5

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def write_split(directory, split="train", n_images=5, n_labels=None, fill=0, gz=True):
    """Write a tiny fake split whose pixels all equal ``fill``, to tell folders apart."""
    directory.mkdir(parents=True, exist_ok=True)
    images_name, labels_name = FILES[split]
    suffix = ".gz" if gz else ""
    write_idx(directory / f"{images_name}{suffix}", np.full((n_images, 28, 28), fill, np.uint8))
    labels = np.arange(n_images if n_labels is None else n_labels, dtype=np.uint8) % 10
    write_idx(directory / f"{labels_name}{suffix}", labels)


def test_official_files_load(shared_mnist):
    images, labels = load_mnist("train", data_dir=shared_mnist)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == TRAIN_COUNTS
    images, labels = load_mnist("test", data_dir=shared_mnist)
    assert images.shape == (10000, 28, 28)
    assert labels.shape == (10000,)


@pytest.mark.parametrize("name", sorted(MD5))
def test_known_checksums_match_the_official_files(shared_mnist, name):
    assert gunzip_md5(shared_mnist / f"{name}.gz") == MD5[name]


def test_data_dir_argument_wins_over_environment(tmp_path, monkeypatch):
    write_split(tmp_path / "arg", fill=1)
    write_split(tmp_path / "env", fill=2)
    monkeypatch.setenv("TFNN_DATA_DIR", str(tmp_path / "env"))
    assert load_mnist(data_dir=tmp_path / "arg")[0][0, 0, 0] == 1
    assert load_mnist()[0][0, 0, 0] == 2


def test_environment_wins_over_cache(tmp_path, monkeypatch):
    write_split(tmp_path / "env", fill=2)
    write_split(tmp_path / "cache", fill=3)
    monkeypatch.setenv("TFNN_DATA_DIR", str(tmp_path / "env"))
    assert load_mnist(cache_dir=tmp_path / "cache")[0][0, 0, 0] == 2


def test_cache_used_when_it_holds_the_files(tmp_path):
    write_split(tmp_path / "xdg-cache" / "tfnn" / "mnist", "test", fill=3)
    images, labels = load_mnist("test", download_missing=False)
    assert images[0, 0, 0] == 3 and len(labels) == 5


def test_raw_and_gzipped_files_accepted_raw_first(tmp_path):
    write_split(tmp_path, fill=4, gz=False)
    assert load_mnist(data_dir=tmp_path)[0][0, 0, 0] == 4
    write_split(tmp_path, fill=5, gz=True)
    assert load_mnist(data_dir=tmp_path)[0][0, 0, 0] == 4


def test_explicit_folder_without_the_files_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=r"neither train-images-idx3-ubyte nor .*point data_dir at"):
        load_mnist(data_dir=tmp_path)
    monkeypatch.setenv("TFNN_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"\$TFNN_DATA_DIR"):
        load_mnist()


def test_empty_cache_without_download_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"downloading is off.*data_dir"):
        load_mnist("test", cache_dir=tmp_path, download_missing=False)


def test_mismatched_counts_name_both_files(tmp_path):
    write_split(tmp_path, "test", n_images=5, n_labels=4)
    with pytest.raises(
        DataError, match=r"t10k-images-idx3-ubyte.gz holds 5 images but .*t10k-labels.* 4 labels"
    ):
        load_mnist("test", data_dir=tmp_path)


def test_swapped_files_are_an_error(tmp_path):
    write_split(tmp_path, "test")
    images, labels = (tmp_path / f"{name}.gz" for name in FILES["test"])
    images.rename(tmp_path / "swap")
    labels.rename(images)
    (tmp_path / "swap").rename(labels)
    with pytest.raises(DataError, match=r"not uint8 images"):
        load_mnist("test", data_dir=tmp_path)


def test_a_label_outside_the_digits_blames_the_labels_file(tmp_path):
    write_split(tmp_path, "test")
    labels_path = tmp_path / f"{FILES['test'][1]}.gz"
    labels = read_idx(labels_path)
    labels[3] = 200
    write_idx(labels_path, labels)
    with pytest.raises(DataError, match=r"label 200 at position 3.*corrupt") as raised:
        load_mnist("test", data_dir=tmp_path)
    assert str(labels_path) in str(raised.value)


def test_library_messages_name_no_command_line_flags(tmp_path):
    with pytest.raises(DataError) as raised:
        load_mnist(data_dir=tmp_path)
    assert "--" not in str(raised.value) and "download" not in str(raised.value)


def test_unknown_split_is_a_value_error():
    with pytest.raises(ValueError, match=r"use one of"):
        load_mnist("validation")
