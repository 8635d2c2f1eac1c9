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


@pytest.mark.parametrize("blas_threads", [0, 1.5, "1"])
def test_blas_threads_must_be_a_whole_number_of_at_least_one(blas_threads):
    model, optimizer = make()
    with pytest.raises(ValueError, match="blas_threads"):
        Trainer(model, nn.SoftmaxCrossEntropy(), optimizer, blas_threads=blas_threads)


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


# -- labels, values and counts that used to train silently or fail obscurely --------------


@pytest.mark.parametrize(
    ("shift", "says"),
    [(10, "up to 19"), (-1, "the label -1"), (245, "up to 254")],
    ids=["y+10", "negative", "255"],
)
def test_labels_outside_the_classes_are_refused(tmp_path, shift, says):
    x, y = mnist()
    labels = y.astype(np.int64) + shift if shift != -1 else np.where(y == 3, -1, y.astype(np.int64))
    message = fit_error(tmp_path, x, labels)
    assert says in message and "--" not in message


def test_a_last_layer_narrower_than_the_classes_is_refused(tmp_path):
    model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 5), seed=0)
    with pytest.raises(ValueError, match="5 outputs") as raised:
        trainer(model, optim.SGD(model.parameters(), lr=0.1), "condition").fit(*mnist())
    assert "up to 9" in str(raised.value)


def test_evaluation_labels_are_checked_too(tmp_path):
    x, y = mnist()
    message = fit_error(tmp_path, x, y, eval_data=(x, y + 10))
    assert "eval_data[1]" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x_is_refused_as_input(tmp_path, bad):
    x, y = mnist()
    x = x.astype(np.float32) / 255
    x[7, 3, 3] = bad
    message = fit_error(tmp_path, x, y)
    assert "input contains" in message and "x[7]" in message
    assert "learning rate" not in message


def test_empty_eval_data_says_so(tmp_path):
    x, y = mnist()
    message = fit_error(tmp_path, x, y, eval_data=(x[:0], y[:0]))
    assert "eval_data holds no samples" in message and "batch_size" not in message


def test_numpy_integers_are_whole_numbers():
    model, optimizer = make()
    history = trainer(model, optimizer, "condition", workers=np.int64(1)).fit(
        *mnist(), epochs=np.int64(1), batch_size=np.int32(100), eval_every=np.int64(2)
    )
    assert history.epochs == 1 and history.steps == 3


def test_a_negative_seed_names_the_seed(tmp_path):
    message = fit_error(tmp_path, *mnist(), seed=-5)
    assert "seed must be a whole number >= 0" in message


def test_float_pixels_0_to_255_ask_whether_to_normalise(tmp_path):
    x, y = mnist()
    pixels = x.astype(np.float64)
    assert "normalize=True" in fit_error(tmp_path, pixels, y)
    model, optimizer = make()
    as_floats = trainer(model, optimizer, "sequential").fit(pixels, y, epochs=1, normalize=True)
    model, optimizer = make()
    as_uint8 = trainer(model, optimizer, "sequential").fit(x, y, epochs=1)
    assert as_floats.loss == as_uint8.loss


def test_the_sequential_strategy_refuses_a_trace(tmp_path):
    message = fit_error(tmp_path, *mnist(), strategy="sequential", trace=tmp_path / "t.json")
    assert "sequential" in message and "trace" in message


# -- output paths: checked before training, never another file's contents ----------------


def test_trace_and_checkpoint_must_be_different_files(tmp_path):
    message = fit_error(tmp_path, *mnist(), trace=tmp_path / "ckpt.safetensors")
    assert "same file" in message


def test_an_output_folder_must_exist(tmp_path):
    model, optimizer = make()
    with pytest.raises(ValueError, match="does not exist") as raised:
        trainer(model, optimizer, "condition").fit(*mnist(), trace=tmp_path / "no" / "t.json")
    assert str(tmp_path / "no" / "t.json") in str(raised.value)
    assert_untouched(model, tmp_path)


@pytest.mark.parametrize("checkpoint", ["", "."])
def test_a_checkpoint_path_must_name_a_file(tmp_path, checkpoint):
    model, optimizer = make()
    with pytest.raises(ValueError, match="not a file path"):
        trainer(model, optimizer, "condition").fit(*mnist(), checkpoint=checkpoint)


def test_a_trace_never_replaces_a_file_that_is_not_a_trace(tmp_path):
    data = tmp_path / "train-labels-idx1-ubyte.gz"
    data.write_bytes(b"\x1f\x8b MNIST labels")
    model, optimizer = make()
    with pytest.raises(ValueError, match="not a JSON trace"):
        trainer(model, optimizer, "condition").fit(*mnist(), trace=data)
    assert data.read_bytes() == b"\x1f\x8b MNIST labels"


# -- arrays of other libraries and devices -------------------------------------------------


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    x, y = mnist()
    model, optimizer = make()
    expected = trainer(model, optimizer, "condition").fit(x, y, epochs=1, eval_data=(x, y))
    model, optimizer = make()
    # requires_grad: np.asarray would refuse it; the Trainer copies it to the host.
    xt = torch.from_numpy(x).float().requires_grad_()
    got = trainer(model, optimizer, "condition").fit(
        xt, torch.from_numpy(y), epochs=1, eval_data=(xt, y), normalize=True
    )
    assert got.loss == expected.loss and got.accuracy == expected.accuracy


def test_array_api_strict_arrays_are_accepted():
    xp = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    x, y = mnist()
    model, optimizer = make()
    expected = trainer(model, optimizer, "condition").fit(x, y, epochs=1)
    model, optimizer = make()
    got = trainer(model, optimizer, "condition").fit(
        xp.asarray(x, device=xp.Device("device1")), xp.asarray(y), epochs=1
    )
    assert got.loss == expected.loss


def test_device_is_the_backends_device_and_tasks_run_on_the_host():
    from tfnn.backends import get_backend

    model, optimizer = make()
    backend = get_backend("numpy", "cpu:1")
    trained = Trainer(model, nn.SoftmaxCrossEntropy(), optimizer, backend=backend)
    assert trained.device == "cpu:1" and trained.task_device == "cpu"
