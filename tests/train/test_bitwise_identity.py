"""All strategies compute the same training, bit for bit, on numpy.

Every strategy calls the same ``StepWork`` pieces with the same data flow, so on numpy
they must give bitwise-identical weights and identical losses for one seed, whatever the
worker count. Run on the simulated asynchronous device, where each device task body runs
later on a stream thread after a random delay, the graphs still match the plain loop: a
missing edge (a data hazard) would let a task read a buffer too early or too late.
"""

from __future__ import annotations

import pytest

from tfnn.executor import Executor, SyncExecutor
from tfnn.executor.simulated import SimulatedDevice

from .helpers import (
    ALL_STRATEGIES,
    EXECUTOR_STRATEGIES,
    MODELS,
    SAMPLES,
    STEPS_PER_EPOCH,
    assert_same_weights,
    fit,
    mnist,
    recorded,
    run_strategy,
    sequential_reference,
    step_pieces,
)

WORKERS = [1, 2, 4]


@pytest.fixture(scope="module")
def references():
    """``sequential`` with one worker, per model: what every other run must equal."""
    cache = {}

    def get(model_name):
        if model_name not in cache:
            cache[model_name] = fit(model_name, "sequential", workers=1, eval_data=mnist())
        return cache[model_name]

    return get


def test_the_sample_ends_in_a_partial_batch():
    x, _ = mnist()
    assert len(x) == SAMPLES and SAMPLES % 64 and -(-SAMPLES // 64) == STEPS_PER_EPOCH


@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("workers", WORKERS, ids=lambda w: f"workers-{w}")
@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_every_strategy_gives_the_same_bits(references, strategy, workers, model_name):
    expected_model, expected_history = references(model_name)
    model, history = fit(model_name, strategy, workers, eval_data=mnist())
    assert_same_weights(model, expected_model)
    assert recorded(history) == recorded(expected_history)
    assert len(history.loss) == 2 and history.samples == 2 * SAMPLES


@pytest.mark.parametrize("workers", WORKERS, ids=lambda w: f"workers-{w}")
@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_mid_epoch_evaluations_keep_the_bits(strategy, workers):
    # Evaluations between steps (the condition graph's other branch) change nothing.
    expected_model, _ = fit("dropout-adam", "sequential", workers=1)
    expected_history = fit("dropout-adam", "sequential", workers=1, eval_every=2)[1]
    model, history = fit("dropout-adam", strategy, workers, eval_every=2)
    assert_same_weights(model, expected_model)
    assert recorded(history) == recorded(expected_history)
    assert history.step == [2, 4, 5, 6, 8, 10]


def test_training_changes_the_weights(references):
    # Guards the comparisons above against a run that silently trained nothing.
    untouched, _ = MODELS["dropout-adam"]()
    trained, history = references("dropout-adam")
    before, after = untouched.state_dict(), trained.state_dict()
    assert all(before[k].tobytes() != after[k].tobytes() for k in before)
    assert history.loss[1] < history.loss[0]


def test_dropout_draws_from_the_fit_seed():
    _, first = fit("dropout-adam", "condition", seed=1)
    _, again = fit("dropout-adam", "condition", seed=1)
    _, other = fit("dropout-adam", "condition", seed=2)
    assert first.loss == again.loss
    assert first.loss != other.loss


# -- graphs whose device tasks run on a simulated asynchronous device ----------------------


@pytest.mark.parametrize("model_name", ["dropout-adam", "dropout-first", "sgd-mlp"])
@pytest.mark.parametrize("workers", WORKERS, ids=lambda w: f"workers-{w}")
@pytest.mark.parametrize("strategy", EXECUTOR_STRATEGIES)
def test_asynchronous_device_gives_the_same_bits(strategy, workers, model_name):
    expected_model, expected_history = sequential_reference(model_name)
    with SimulatedDevice(streams=4, max_delay=0.0005, seed=workers) as device:
        executor = Executor(workers=workers, devices={"sim:0": device})
        try:
            model, history = run_strategy(strategy, executor, "sim:0", model_name)
        finally:
            executor.shutdown()
        launches = sum(s.launches for s in device.streams)
    assert_same_weights(model, expected_model)
    assert recorded(history) == recorded(expected_history)
    # Every F, loss, BI, BW and U task of every step went through a stream.
    work, _ = step_pieces(*MODELS[model_name]())
    per_step = work.depth + 1 + (work.depth - 1) + 2 * len(work.trainable)
    assert launches >= per_step * 2 * STEPS_PER_EPOCH


@pytest.mark.parametrize("streams", [1, 2, 8])
@pytest.mark.parametrize("schedule", range(4), ids=lambda s: f"schedule-{s}")
def test_asynchronous_device_many_schedules(schedule, streams):
    # Other stream counts and longer random delays reorder the device work further;
    # half the schedules evaluate at epoch ends only.
    eval_every = None if schedule % 2 else 2
    expected_model, expected_history = sequential_reference("dropout-first", eval_every=eval_every)
    with SimulatedDevice(streams=streams, max_delay=0.002, seed=100 + schedule) as device:
        executor = Executor(workers=1 + schedule % 3, devices={"sim:0": device})
        try:
            model, history = run_strategy(
                "condition", executor, "sim:0", "dropout-first", eval_every=eval_every
            )
        finally:
            executor.shutdown()
    assert_same_weights(model, expected_model)
    assert recorded(history) == recorded(expected_history)


@pytest.mark.parametrize("strategy", EXECUTOR_STRATEGIES)
def test_reference_executor_gives_the_same_bits(strategy):
    expected_model, expected_history = sequential_reference("dropout-adam")
    executor = SyncExecutor()
    try:
        model, history = run_strategy(strategy, executor, "cpu", "dropout-adam")
    finally:
        executor.shutdown()
    assert_same_weights(model, expected_model)
    assert recorded(history) == recorded(expected_history)


def test_graph_runner_matches_the_trainer(references):
    # The hand-built pieces (used above with the simulated device) are the Trainer's own.
    expected_model, expected_history = references("dropout-adam")
    model, history = sequential_reference("dropout-adam", eval_every=None)
    assert_same_weights(model, expected_model)
    assert history.loss == expected_history.loss
    assert history.accuracy == expected_history.accuracy
