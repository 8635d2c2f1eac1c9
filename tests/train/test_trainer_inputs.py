"""Mistakes a user can make when building a Trainer or calling fit: clear ValueErrors,
raised before anything is trained or written."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn import nn, optim
from tfnn.train import STRATEGIES, Trainer

from .helpers import ALL_STRATEGIES, MODELS, mnist, trainer


def make():
    return MODELS["sgd-mlp"]()


def assert_untouched(model, tmp_path):
    fresh, _ = make()
    a, b = model.state_dict(), fresh.state_dict()
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    assert list(tmp_path.iterdir()) == []


def fit_error(tmp_path, x, y, strategy="condition", **kwargs):
    model, optimizer = make()
    with pytest.raises(ValueError) as raised:
        trainer(model, optimizer, strategy).fit(
            x, y, checkpoint=tmp_path / "ckpt.safetensors", **kwargs
        )
    assert_untouched(model, tmp_path)
    return str(raised.value)


def test_the_strategies_are_the_five_of_the_design():
    assert set(STRATEGIES) == set(ALL_STRATEGIES)


def test_unknown_strategy_lists_the_strategies():
    model, optimizer = make()
    with pytest.raises(ValueError, match="'hogwild'") as raised:
        Trainer(model, nn.SoftmaxCrossEntropy(), optimizer, strategy="hogwild")
    for name in ALL_STRATEGIES:
        assert name in str(raised.value)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_whole_number_of_at_least_one(workers):
    model, optimizer = make()
    with pytest.raises(ValueError, match="workers"):
        Trainer(model, nn.SoftmaxCrossEntropy(), optimizer, workers=workers)


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_mismatched_lengths(tmp_path, strategy):
    x, y = mnist()
    message = fit_error(tmp_path, x, y[:-1], strategy)
    assert "300" in message and "299" in message


def test_labels_must_be_one_per_sample(tmp_path):
    x, y = mnist()
    message = fit_error(tmp_path, x, np.stack([y, y], axis=1))
    assert "label" in message


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_feature_count_must_match_the_first_linear(tmp_path, strategy):
    x = np.zeros((40, 20), dtype=np.float32)
    y = np.zeros(40, dtype=np.int64)
    message = fit_error(tmp_path, x, y, strategy)
    assert "784" in message and "20" in message


def test_feature_count_of_images_is_their_pixel_count(tmp_path):
    model = nn.Sequential(nn.Dropout(0.1), nn.Linear(100, 10), seed=0)
    with pytest.raises(ValueError) as raised:
        trainer(model, optim.SGD(model.parameters(), lr=0.1), "condition").fit(*mnist())
    assert "100" in str(raised.value) and "784" in str(raised.value)


def test_no_samples(tmp_path):
    x, y = mnist()
    assert "no training samples" in fit_error(tmp_path, x[:0], y[:0])


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True])
def test_epochs_must_be_at_least_one(tmp_path, epochs):
    assert "epochs" in fit_error(tmp_path, *mnist(), epochs=epochs)


@pytest.mark.parametrize("batch_size", [0, -3, 2.0])
def test_batch_size_must_be_at_least_one(tmp_path, batch_size):
    assert "batch_size" in fit_error(tmp_path, *mnist(), batch_size=batch_size)


@pytest.mark.parametrize("eval_every", [0, -1, True, 2.5])
def test_eval_every_must_be_a_whole_number_of_steps(tmp_path, eval_every):
    assert "eval_every" in fit_error(tmp_path, *mnist(), eval_every=eval_every)


@pytest.mark.parametrize("target", [0.0, -0.5, 1.5])
def test_target_accuracy_is_a_fraction(tmp_path, target):
    message = fit_error(tmp_path, *mnist(), eval_data=mnist(), target_accuracy=target)
    assert "target_accuracy" in message
