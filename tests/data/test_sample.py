"""The embedded sample: loads offline, is stratified, and is exactly what make_sample makes."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn.data import load_mnist, load_mnist_sample, read_idx
from tfnn.data.make_sample import PER_CLASS, make_sample, select
from tfnn.data.sample import SAMPLE_DIR


@pytest.mark.parametrize("split", ["train", "test"])
def test_sample_loads_and_is_stratified(split):
    images, labels = load_mnist_sample(split)
    per_class = PER_CLASS[split]
    assert images.shape == (10 * per_class, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10


def test_sample_is_small():
    total = sum(p.stat().st_size for p in SAMPLE_DIR.iterdir())
    assert total < 3_000_000


@pytest.mark.parametrize("split", ["train", "test"])
def test_sample_is_the_recorded_subset_of_the_official_files(shared_mnist, split):
    images, labels = load_mnist(split, data_dir=shared_mnist)
    indices = read_idx(SAMPLE_DIR / f"{split}-indices-idx1-int.gz")
    np.testing.assert_array_equal(indices, select(labels, PER_CLASS[split]))
    sample_images, sample_labels = load_mnist_sample(split)
    np.testing.assert_array_equal(sample_images, images[indices])
    np.testing.assert_array_equal(sample_labels, labels[indices])


def test_make_sample_reproduces_the_shipped_files(shared_mnist, tmp_path):
    make_sample(shared_mnist, tmp_path)
    for shipped in SAMPLE_DIR.iterdir():
        assert (tmp_path / shipped.name).read_bytes() == shipped.read_bytes(), shipped.name


def test_select_is_sorted_stratified_and_seeded():
    labels = np.arange(100, dtype=np.uint8) % 10
    chosen = select(labels, 3, seed=5)
    assert np.all(np.diff(chosen) > 0)
    assert np.bincount(labels[chosen]).tolist() == [3] * 10
    np.testing.assert_array_equal(chosen, select(labels, 3, seed=5))
    assert not np.array_equal(chosen, select(labels, 3, seed=6))
