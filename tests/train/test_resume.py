"""Resuming from a checkpoint continues to the same bits as a run never interrupted.

The checkpoint holds parameters, optimizer state (Adam's moments and step counts), the
position (epoch, step), the dropout generator's state and the history, so a fresh model
and optimizer that resume must end bitwise where the uninterrupted run ends. A checkpoint
written with other settings is refused with a clear error and left untouched.
"""

from __future__ import annotations

import pytest

from tfnn.checkpoint import CheckpointError, load_checkpoint
from tfnn.executor import TaskError

from .helpers import (
    ALL_STRATEGIES,
    BATCH,
    MODELS,
    SEED,
    STEPS_PER_EPOCH,
    assert_same_weights,
    mnist,
    recorded,
    trainer,
)

MODEL = "dropout-adam"  # Dropout's generator and Adam's state both have to be restored


class Interrupt(Exception):
    """Stands for a crash right after a checkpoint was written."""


def fit_fresh(strategy, epochs, **kwargs):
    model, optimizer = MODELS[MODEL]()
    kwargs = {"batch_size": BATCH, "seed": SEED, "eval_data": mnist(), **kwargs}
    history = trainer(model, optimizer, strategy).fit(*mnist(), epochs=epochs, **kwargs)
    return model, history


def interrupt_at(step):
    def on_evaluation(info):
        if info["step"] == step:
            raise Interrupt(f"interrupted after step {step}")

    return on_evaluation


@pytest.mark.parametrize(
    ("first", "then"),
    [(s, s) for s in ALL_STRATEGIES] + [("condition", "sequential"), ("sequential", "unrolled")],
)
def test_resume_after_an_epoch_equals_an_unbroken_run(tmp_path, first, then):
    path = tmp_path / "ckpt.safetensors"
    expected_model, expected_history = fit_fresh(first, epochs=2)
    fit_fresh(first, epochs=1, checkpoint=path)
    model, history = fit_fresh(then, epochs=2, checkpoint=path, resume=True)
    assert_same_weights(model, expected_model)
    assert recorded(history) == recorded(expected_history)
    _, meta = load_checkpoint(path)
    assert (meta["epoch"], meta["step"]) == (2, 0)


@pytest.mark.parametrize("stop_at", [3, 6], ids=["epoch0-step3", "epoch1-step1"])
@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_resume_mid_epoch_equals_an_unbroken_run(tmp_path, strategy, stop_at):
    path = tmp_path / "ckpt.safetensors"
    expected_model, expected_history = fit_fresh(strategy, epochs=2, eval_every=3)
    with pytest.raises((Interrupt, TaskError)):
        fit_fresh(
            strategy, epochs=2, eval_every=3, checkpoint=path, on_evaluation=interrupt_at(stop_at)
        )
    _, meta = load_checkpoint(path)
    assert (meta["epoch"], meta["step"]) == divmod(stop_at, STEPS_PER_EPOCH)
    model, history = fit_fresh(strategy, epochs=2, eval_every=3, checkpoint=path, resume=True)
    assert_same_weights(model, expected_model)
    assert recorded(history) == recorded(expected_history)


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_resuming_a_finished_run_trains_nothing(tmp_path, strategy):
    path = tmp_path / "ckpt.safetensors"
    expected_model, expected_history = fit_fresh(strategy, epochs=1, checkpoint=path)
    steps = []
    model, history = fit_fresh(
        strategy, epochs=1, checkpoint=path, resume=True, on_step=steps.append
    )
    assert steps == []
    assert_same_weights(model, expected_model)
    assert recorded(history) == recorded(expected_history)


def test_resume_without_a_checkpoint_file_starts_afresh(tmp_path):
    path = tmp_path / "none-yet.safetensors"
    expected_model, expected_history = fit_fresh("condition", epochs=1)
    model, history = fit_fresh("condition", epochs=1, checkpoint=path, resume=True)
    assert_same_weights(model, expected_model)
    assert recorded(history) == recorded(expected_history)
    assert path.exists()


def test_without_resume_an_old_checkpoint_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    fit_fresh("condition", epochs=2, checkpoint=path)
    saved = path.read_bytes()
    with pytest.raises(CheckpointError, match="overwrite=True") as raised:
        fit_fresh("condition", epochs=1, checkpoint=path)
    assert str(path) in str(raised.value) and "--" not in str(raised.value)
    assert path.read_bytes() == saved
    expected_model, _ = fit_fresh("condition", epochs=1)
    model, history = fit_fresh("condition", epochs=1, checkpoint=path, overwrite=True)
    assert_same_weights(model, expected_model)
    assert history.steps == STEPS_PER_EPOCH
    _, meta = load_checkpoint(path)
    assert (meta["epoch"], meta["step"]) == (1, 0)


def test_overwrite_never_replaces_a_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_bytes(b"my notes")
    with pytest.raises(ValueError, match="not a tfnn checkpoint") as raised:
        fit_fresh("condition", epochs=1, checkpoint=path, overwrite=True)
    assert str(path) in str(raised.value)
    assert path.read_bytes() == b"my notes"


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    stale = tmp_path / ".ckpt.safetensors.0a1b2c3d.tmp"
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.safetensors.0a1b2c3d.tmp"
    other.write_bytes(b"not ours")
    fit_fresh("condition", epochs=1, checkpoint=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, other.name])


def test_resume_on_other_data_is_refused_unless_allowed(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    fit_fresh("condition", epochs=1, checkpoint=path)
    saved = path.read_bytes()
    x, y = mnist()
    other = (x[::-1].copy(), y[::-1].copy())  # same sizes, other order: another hash
    model, optimizer = MODELS[MODEL]()
    untouched = MODELS[MODEL]()[0]
    settings = {"epochs": 2, "batch_size": BATCH, "seed": SEED, "eval_data": mnist()}
    with pytest.raises(CheckpointError, match="other data") as raised:
        trainer(model, optimizer, "condition").fit(*other, checkpoint=path, resume=True, **settings)
    assert "allow_other_data" in str(raised.value)
    assert path.read_bytes() == saved
    assert_same_weights(model, untouched)
    history = trainer(model, optimizer, "condition").fit(
        *other, checkpoint=path, resume=True, allow_other_data=True, **settings
    )
    assert history.epochs == 2


def test_resuming_a_finished_run_trains_no_further(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    done, _ = fit_fresh("condition", epochs=2, checkpoint=path)
    saved = path.read_bytes()
    evaluations = []
    model, history = fit_fresh(
        "condition", epochs=2, checkpoint=path, resume=True, on_evaluation=evaluations.append
    )
    assert evaluations == [] and history.epochs == 2
    assert_same_weights(model, done)
    assert path.read_bytes() == saved


def test_resuming_a_run_that_reached_its_target_trains_no_further(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    _, first = fit_fresh("condition", epochs=3, checkpoint=path, target_accuracy=0.5)
    assert first.epochs < 3 and first.accuracy[-1] >= 0.5
    evaluations = []
    _, history = fit_fresh(
        "condition",
        epochs=3,
        checkpoint=path,
        resume=True,
        target_accuracy=0.5,
        on_evaluation=evaluations.append,
    )
    assert evaluations == [] and history.epochs == first.epochs


@pytest.mark.parametrize(
    "edit",
    [
        lambda meta: meta.pop("epoch"),
        lambda meta: meta.update(step="three"),
        lambda meta: meta.update(history={"loss": []}),
        lambda meta: meta.update(history=[1, 2]),
        lambda meta: meta["optimizer"].pop("steps"),
        lambda meta: meta.update(dropout_rng={"bit_generator": "nonesuch"}),
    ],
    ids=["no-epoch", "step-text", "history-partial", "history-list", "no-steps", "bad-rng"],
)
def test_hand_edited_metadata_is_a_checkpoint_error(tmp_path, edit):
    from tfnn.checkpoint import save_checkpoint

    path = tmp_path / "ckpt.safetensors"
    fit_fresh("condition", epochs=1, checkpoint=path)
    tensors, meta = load_checkpoint(path)
    edit(meta)
    save_checkpoint(path, tensors, meta)
    with pytest.raises(CheckpointError, match="malformed") as raised:
        fit_fresh("condition", epochs=2, checkpoint=path, resume=True)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(
    ("setting", "kwargs"),
    [
        ("batch_size", {"batch_size": BATCH // 2}),
        ("seed", {"seed": SEED + 1}),
    ],
)
@pytest.mark.parametrize("strategy", ["sequential", "condition"])
def test_resume_with_other_settings_is_refused(tmp_path, strategy, setting, kwargs):
    path = tmp_path / "ckpt.safetensors"
    fit_fresh(strategy, epochs=1, checkpoint=path)
    saved = path.read_bytes()
    model, optimizer = MODELS[MODEL]()
    untouched = MODELS[MODEL]()[0]
    settings = {"batch_size": BATCH, "seed": SEED, **kwargs}
    with pytest.raises(CheckpointError, match=setting) as raised:
        trainer(model, optimizer, strategy).fit(
            *mnist(), epochs=2, checkpoint=path, resume=True, **settings
        )
    message = str(raised.value)
    assert str(path) in message and str(settings[setting]) in message
    assert "--checkpoint" in message or "same settings" in message
    assert path.read_bytes() == saved
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert_same_weights(model, untouched)


def test_resume_with_another_model_is_refused(tmp_path):
    from tfnn import nn, optim

    path = tmp_path / "ckpt.safetensors"
    fit_fresh("condition", epochs=1, checkpoint=path)
    saved = path.read_bytes()
    model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10), seed=4)
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    with pytest.raises(CheckpointError, match="model"):
        trainer(model, optimizer, "condition").fit(
            *mnist(), epochs=2, batch_size=BATCH, seed=SEED, checkpoint=path, resume=True
        )
    assert path.read_bytes() == saved


def test_resume_from_a_broken_file_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    fit_fresh("condition", epochs=1, checkpoint=path)
    path.write_bytes(path.read_bytes()[:100])
    broken = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"corrupt|truncated"):
        fit_fresh("condition", epochs=2, checkpoint=path, resume=True)
    assert path.read_bytes() == broken


def test_checkpoint_and_resume_on_every_backend(backend, tmp_path):
    # The dropout generator's state differs per backend: numpy's is JSON, torch's and
    # cupy's are byte tensors stored beside the weights.
    from tfnn import nn, optim

    def run(**kwargs):
        model = nn.Sequential(
            nn.Linear(784, 16), nn.ReLU(), nn.Dropout(0.25), nn.Linear(16, 10), backend=backend
        )
        optimizer = optim.Adam(model.parameters(), lr=2e-3)
        history = trainer(model, optimizer, "condition", workers=1).fit(
            *mnist(), batch_size=BATCH, seed=SEED, **kwargs
        )
        return model, history

    path = tmp_path / "ckpt.safetensors"
    expected, expected_history = run(epochs=2)
    run(epochs=1, checkpoint=path)
    resumed, history = run(epochs=2, checkpoint=path, resume=True)
    assert_same_weights(resumed, expected)
    assert recorded(history) == recorded(expected_history)
