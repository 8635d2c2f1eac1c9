"""The History a fit returns: what is recorded, when, and early stopping at a target."""

from __future__ import annotations

import threading
import time

import pytest

from .helpers import (
    ALL_STRATEGIES,
    BATCH,
    MODELS,
    SAMPLES,
    STEPS_PER_EPOCH,
    assert_same_weights,
    fit,
    mnist,
    recorded,
    step_pieces,
    trainer,
)

TARGET = 0.9  # sgd-mlp reaches 0.913 on its own training samples after 3 epochs


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_one_entry_per_epoch(strategy):
    _, history = fit("sgd-mlp", strategy, epochs=3)
    assert len(history.loss) == len(history.accuracy) == 3
    assert history.epoch == [1, 2, 3]
    assert history.step == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH, 3 * STEPS_PER_EPOCH]
    assert history.accuracy == [None, None, None]
    assert history.epochs == 3
    assert history.steps == 3 * STEPS_PER_EPOCH
    assert history.samples == 3 * SAMPLES
    assert history.train_seconds > 0 and history.samples_per_second > 0
    assert history.eval_seconds > 0  # the evaluations' time is recorded
    assert history.loss[2] < history.loss[0]
    # fit shut its executor down.
    assert not [t for t in threading.enumerate() if t.name.startswith("tfnn-worker")]


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_eval_every_adds_an_entry_per_evaluation(strategy):
    # 5 steps per epoch, an evaluation every 2 steps and at each epoch's end.
    _, history = fit("sgd-mlp", strategy, epochs=3, eval_every=2, eval_data=mnist())
    assert history.step == [2, 4, 5, 6, 8, 10, 12, 14, 15]
    assert history.epoch == [0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert len(history.loss) == len(history.accuracy) == 9
    assert all(0.0 <= a <= 1.0 for a in history.accuracy)
    assert history.epochs == 3 and history.steps == 15 and history.samples == 3 * SAMPLES
    assert history.samples_per_second > 0


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_callbacks_see_every_step_and_evaluation(strategy):
    evaluations, steps = [], []
    _, history = fit(
        "sgd-mlp",
        strategy,
        epochs=2,
        eval_every=3,
        eval_data=mnist(),
        on_evaluation=evaluations.append,
        on_step=steps.append,
    )
    assert steps == [1] * 2 * STEPS_PER_EPOCH
    assert [e["step"] for e in evaluations] == history.step == [3, 5, 6, 9, 10]
    assert [e["loss"] for e in evaluations] == history.loss
    assert [e["accuracy"] for e in evaluations] == history.accuracy
    assert all(e["samples_per_second"] > 0 for e in evaluations)


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_target_accuracy_stops_early(strategy):
    _, history = fit("sgd-mlp", strategy, epochs=20, eval_data=mnist(), target_accuracy=TARGET)
    assert history.epochs < 20
    assert history.accuracy[-1] >= TARGET
    assert all(a < TARGET for a in history.accuracy[:-1])
    assert history.steps == history.epochs * STEPS_PER_EPOCH
    assert history.samples == history.epochs * SAMPLES


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_target_accuracy_stops_mid_epoch(strategy):
    _, history = fit(
        "sgd-mlp", strategy, epochs=20, eval_every=3, eval_data=mnist(), target_accuracy=TARGET
    )
    _, per_epoch = fit("sgd-mlp", strategy, epochs=20, eval_data=mnist(), target_accuracy=TARGET)
    assert history.accuracy[-1] >= TARGET
    assert all(a < TARGET for a in history.accuracy[:-1])
    assert history.steps == history.step[-1] < 20 * STEPS_PER_EPOCH
    # Checking more often can only stop at the same step or earlier.
    assert history.steps <= per_epoch.steps
    assert history.samples == sum(
        min(64, SAMPLES - 64 * (s % STEPS_PER_EPOCH)) for s in range(history.steps)
    )


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_target_accuracy_needs_eval_data(strategy):
    model, optimizer = MODELS["sgd-mlp"]()
    before = model.state_dict()
    with pytest.raises(ValueError, match="eval_data"):
        trainer(model, optimizer, strategy).fit(*mnist(), epochs=2, target_accuracy=0.5)
    after = model.state_dict()
    assert all(before[k].tobytes() == after[k].tobytes() for k in before)


def test_history_round_trips_through_a_dict():
    from tfnn.train import History

    _, history = fit("sgd-mlp", "condition", eval_every=2, eval_data=mnist())
    assert History.from_dict(history.to_dict()) == history


def test_waiting_for_the_loss_counts_as_training_and_accuracy_as_evaluation():
    # On a GPU, reading the loss sum waits for the queued steps: that is training time.
    # The accuracy pass over the evaluation data is not.
    model, optimizer = MODELS["sgd-mlp"]()
    work, control = step_pieces(model, optimizer, eval_data=False)
    control.evaluate_accuracy = lambda: time.sleep(0.2) or 0.5
    read = work.take_loss_sum
    work.take_loss_sum = lambda: time.sleep(0.3) or read()
    control.count_step()
    control.evaluate()
    assert control.history.train_seconds >= 0.3
    assert 0.2 <= control.history.eval_seconds < 0.3


@pytest.mark.parametrize("strategy", ["condition", "unrolled"])
def test_a_trainer_used_as_a_context_keeps_its_workers_between_fits(strategy):
    def workers():
        return {t for t in threading.enumerate() if t.name.startswith("tfnn-worker")}

    model, optimizer = MODELS["sgd-mlp"]()
    reference, reference_optimizer = MODELS["sgd-mlp"]()
    plain = trainer(reference, reference_optimizer, strategy, workers=2)
    seen = []
    with trainer(model, optimizer, strategy, workers=2) as kept:
        for _ in range(2):
            history = kept.fit(*mnist(), epochs=1, on_step=lambda n: seen.append(workers()))
            assert recorded(history) == recorded(plain.fit(*mnist(), epochs=1))
        assert len(workers()) == 2
    assert len({frozenset(s) for s in seen}) == 1, "the same two threads ran both fits"
    assert workers() == set()
    assert_same_weights(model, reference)


def test_a_kept_executor_is_replaced_after_a_failed_fit():
    model, optimizer = MODELS["sgd-mlp"]()

    def fail(step):
        raise RuntimeError("stop here")

    with trainer(model, optimizer, "condition", workers=2) as kept:
        with pytest.raises(Exception, match="stop here"):
            kept.fit(*mnist(), epochs=1, on_step=fail)
        assert not [t for t in threading.enumerate() if t.name.startswith("tfnn-worker")]
        assert kept.fit(*mnist(), epochs=1, batch_size=BATCH).steps == STEPS_PER_EPOCH
    assert not [t for t in threading.enumerate() if t.name.startswith("tfnn-worker")]
