"""Batches: normalisation, seeded per-epoch order, partial batches, resume, device transfer."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn.data import Batches, load_mnist_sample


def toy(n=10):
    images = (np.arange(n * 4) % 256).astype(np.uint8).reshape(n, 2, 2)
    return images, np.arange(n, dtype=np.uint8) % 10


def collect(batches, epoch, start_step=0):
    return [(x.copy(), y.copy()) for x, y in batches.epoch(epoch, start_step)]


def test_normalised_float32_flattened():
    images, labels = toy()
    x, y = Batches(images, labels, 10, shuffle=False).batch(0, 0)
    assert x.dtype == np.float32 and x.shape == (10, 4)
    assert y.dtype == np.int64
    expected = ((images.reshape(10, 4) / 255 - 0.1307) / 0.3081).astype(np.float32)
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    assert Batches(images, labels, 10, flatten=False).batch(0, 0)[0].shape == (10, 2, 2)


def test_sample_statistics_after_normalisation():
    images, labels = load_mnist_sample("train")
    x = Batches(images, labels, 6000).batch(0, 0)[0]
    assert abs(float(x.mean())) < 0.02 and abs(float(x.std()) - 1) < 0.02


def test_caller_arrays_untouched():
    images = np.ones((4, 2, 2), dtype=np.float32) * 255
    Batches(images, np.zeros(4, np.uint8), 2)
    assert np.all(images == 255)


def test_each_epoch_visits_every_sample_once():
    images, labels = toy()
    batches = Batches(images, labels, 3, seed=1)
    ys = np.concatenate([y for _, y in batches.epoch(0)])
    assert sorted(ys.tolist()) == sorted(labels.tolist())


def test_order_is_derived_from_seed_and_epoch():
    images, labels = toy(50)
    batches = Batches(images, labels, 8, seed=7)
    np.testing.assert_array_equal(batches.order(3), np.random.default_rng([7, 3]).permutation(50))
    assert not np.array_equal(batches.order(0), batches.order(1))
    assert not np.array_equal(batches.order(0), Batches(images, labels, 8, seed=8).order(0))
    np.testing.assert_array_equal(Batches(images, labels, 8, shuffle=False).order(4), range(50))


def test_same_seed_same_batches():
    images, labels = toy(50)
    first = collect(Batches(images, labels, 8, seed=3), 2)
    second = collect(Batches(images, labels, 8, seed=3), 2)
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize(
    ("drop_last", "sizes"), [(False, [4, 4, 2]), (True, [4, 4])], ids=["keep", "drop"]
)
def test_last_partial_batch(drop_last, sizes):
    batches = Batches(*toy(10), 4, drop_last=drop_last)
    assert len(batches) == len(sizes)
    assert [len(y) for _, y in batches.epoch(0)] == sizes


@pytest.mark.parametrize("start_step", [0, 1, 4, 7])
def test_resume_at_step_matches_uninterrupted_run(start_step):
    images, labels = toy(30)
    uninterrupted = collect(Batches(images, labels, 4, seed=11), 5)
    resumed = collect(Batches(images, labels, 4, seed=11), 5, start_step)
    assert len(resumed) == len(uninterrupted) - start_step
    for (x1, y1), (x2, y2) in zip(uninterrupted[start_step:], resumed, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_asarray_moves_each_batch():
    seen = []

    def asarray(a):
        seen.append(a.dtype)
        return ("device", a)

    x, y = Batches(*toy(), 5, asarray=asarray).batch(0, 1)
    assert x[0] == y[0] == "device"
    assert seen == [np.float32, np.int64]


def test_bad_arguments_are_clear_errors():
    images, labels = toy(10)
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        Batches(images, labels[:9], 4)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        Batches(images, labels, 0)
    with pytest.raises(ValueError, match="drop_last"):
        Batches(images, labels, 11, drop_last=True)
    batches = Batches(images, labels, 4)
    with pytest.raises(IndexError, match="3 steps"):
        batches.batch(0, 3)
    with pytest.raises(IndexError, match="3 steps"):
        next(batches.epoch(0, start_step=4))
