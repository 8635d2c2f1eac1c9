"""Learning-rate schedules in training: every strategy applies the same rate at the same
step (bitwise-equal weights), a plateau lowers the rate at the evaluation it should, resume
continues the same curve, and the CLI's ``--schedule`` shows the rate in its output."""

from __future__ import annotations

import json

import pytest

from tfnn import nn, optim
from tfnn.checkpoint import CheckpointError, load_checkpoint
from tfnn.cli import main
from tfnn.executor import TaskError
from tfnn.optim import (
    ConstantLR,
    CosineDecay,
    OneCycle,
    ReduceOnPlateau,
    Schedule,
    ScheduleError,
    StepDecay,
    make_schedule,
)
from tfnn.train import Trainer

from .helpers import (
    ALL_STRATEGIES,
    BATCH,
    BLAS_THREADS,
    MODELS,
    SEED,
    STEPS_PER_EPOCH,
    assert_same_weights,
    mnist,
    recorded,
)

EPOCHS = 3
TOTAL = EPOCHS * STEPS_PER_EPOCH
# Each changes the rate at (nearly) every step, so a deferred update that read a later
# step's rate would change the weights.
SCHEDULES = {
    "constant-warmup": lambda: ConstantLR(warmup_steps=4),
    "step": lambda: StepDecay(step_size=2, gamma=0.7, warmup_steps=1),
    "cosine-warmup": lambda: CosineDecay(TOTAL, warmup_steps=3, min_factor=0.05),
    "onecycle": lambda: OneCycle(TOTAL, pct_start=0.4),
    # Never better (by 100%): a reduction at the second evaluation and every one after it.
    "plateau": lambda: ReduceOnPlateau(monitor="loss", factor=0.5, patience=0, threshold=1.0),
}


def fit(model_name, strategy, schedule, workers=2, **kwargs):
    """Train a fresh ``MODELS[model_name]`` on the sample with ``schedule`` (None: none)."""
    model, optimizer = MODELS[model_name]()
    kwargs = {"epochs": EPOCHS, "batch_size": BATCH, "seed": SEED, **kwargs}
    run = Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        optimizer,
        strategy=strategy,
        workers=workers,
        blas_threads=BLAS_THREADS,
        schedule=schedule,
    )
    return model, run.fit(*mnist(), **kwargs)


@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("model_name", ["sgd-mlp", "dropout-adam"])
def test_every_strategy_gives_the_same_weights(model_name, schedule):
    expected_model, expected = fit(model_name, "sequential", SCHEDULES[schedule](), eval_every=2)
    assert len(set(expected.lr)) > 1, "the schedule must change the rate in this run"
    for strategy in ALL_STRATEGIES[1:]:
        for workers in (1, 2):
            model, history = fit(model_name, strategy, SCHEDULES[schedule](), workers, eval_every=2)
            assert_same_weights(model, expected_model)
            assert recorded(history) == recorded(expected), (strategy, workers)


class Reductions(Schedule):
    """Halve the rate from each of the given steps on: what the plateau should do."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def decay(self, step):
        return 0.5 ** sum(step >= s for s in self.steps)


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_plateau_lowers_the_rate_right_after_its_evaluation(strategy):
    # Evaluations after steps 2, 4, 5 (epoch end), 6, 8, 10, ...; the plateau (never 50%
    # better) reduces at the second evaluation and every one after it.
    _, history = fit("sgd-mlp", strategy, SCHEDULES["plateau"](), eval_every=2)
    assert history.step[:4] == [2, 4, 5, 6]
    assert history.lr[:5] == [0.05, 0.05, 0.025, 0.0125, 0.00625]
    # The same weights as a schedule that halves from exactly the steps after them.
    model, _ = fit("sgd-mlp", strategy, SCHEDULES["plateau"](), eval_every=2)
    expected, _ = fit("sgd-mlp", strategy, Reductions(history.step[1:-1]), eval_every=2)
    assert_same_weights(model, expected)
    # Off by one step (reducing one step late) is caught.
    late, _ = fit("sgd-mlp", strategy, Reductions([s + 1 for s in history.step[1:-1]]))
    with pytest.raises(AssertionError):
        assert_same_weights(model, late)


def test_plateau_on_accuracy_matches_a_replay_of_the_evaluations():
    schedule = ReduceOnPlateau(monitor="accuracy", factor=0.5, patience=0, threshold=0.1)
    _, history = fit("sgd-mlp", "condition", schedule, eval_every=2, eval_data=mnist())
    replay = ReduceOnPlateau(monitor="accuracy", factor=0.5, patience=0, threshold=0.1)
    rates = []
    for loss, accuracy in zip(history.loss, history.accuracy, strict=True):
        rates.append(0.05 * replay.scale)
        replay.observe(loss, accuracy)
    assert history.lr == rates
    assert rates[-1] < rates[0]
    assert schedule.scale == replay.scale


class Interrupt(Exception):
    """Stands for a crash right after a checkpoint was written."""


def interrupt_at(step):
    def on_evaluation(info):
        if info["step"] == step:
            raise Interrupt(f"interrupted after step {step}")

    return on_evaluation


@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("strategy", ["sequential", "pipelined"])
def test_resume_mid_schedule_continues_the_same_curve(tmp_path, strategy, schedule):
    path = tmp_path / "ckpt.safetensors"
    kwargs = {"eval_every": 3, "eval_data": mnist()}
    expected_model, expected = fit("dropout-adam", strategy, SCHEDULES[schedule](), **kwargs)
    with pytest.raises((Interrupt, TaskError)):
        fit(
            "dropout-adam",
            strategy,
            SCHEDULES[schedule](),
            checkpoint=path,
            on_evaluation=interrupt_at(6),
            **kwargs,
        )
    _, meta = load_checkpoint(path)
    assert (meta["epoch"], meta["step"]) == (1, 1)
    assert meta["schedule"]["type"] == type(SCHEDULES[schedule]()).__name__
    model, history = fit(
        "dropout-adam", strategy, SCHEDULES[schedule](), checkpoint=path, resume=True, **kwargs
    )
    assert_same_weights(model, expected_model)
    assert recorded(history) == recorded(expected)


def test_plateau_state_is_in_the_checkpoint(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    schedule = SCHEDULES["plateau"]()
    fit("sgd-mlp", "condition", schedule, epochs=1, eval_every=2, checkpoint=path)
    _, meta = load_checkpoint(path)
    assert meta["schedule"]["state"]["scale"] == schedule.scale == 0.25


def test_resume_with_another_schedule_is_refused(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    fit("sgd-mlp", "condition", CosineDecay(TOTAL), epochs=1, checkpoint=path)
    with pytest.raises(CheckpointError, match=r"written with schedule=.*CosineDecay.*15"):
        fit("sgd-mlp", "condition", CosineDecay(2 * TOTAL), checkpoint=path, resume=True)
    with pytest.raises(CheckpointError, match="resume with the same settings"):
        fit("sgd-mlp", "condition", None, checkpoint=path, resume=True)


def test_a_schedule_shorter_than_the_run_is_refused():
    with pytest.raises(ScheduleError, match=f"pass total_steps={TOTAL}"):
        fit("sgd-mlp", "condition", CosineDecay(TOTAL - 1))
    with pytest.raises(ScheduleError, match="needs evaluation data"):
        fit("sgd-mlp", "condition", ReduceOnPlateau(monitor="accuracy"))


def test_without_a_schedule_the_rate_is_constant():
    _, history = fit("sgd-mlp", "condition", None)
    assert history.lr == [0.05] * EPOCHS


# -- the CLI ----------------------------------------------------------------------------------

SMALL = ["--layers", "784,32,10", "--batch-size", "200", "--epochs", "2"]


@pytest.mark.parametrize("name", list(optim.SCHEDULES))
def test_cli_schedule_shows_the_rate(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TFNN_DATA_DIR", raising=False)
    args = [*SMALL, "--schedule", name, "--metrics", "m.jsonl", "--eval-every", "10"]

    assert main(["train", *args]) == 0
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == len(records) == 6  # 30 steps an epoch: at 10, 20, 30, ...
    for line, record in zip(lines, records, strict=True):
        assert f"  lr {record['lr']:.3g}  " in line
    rates = [r["lr"] for r in records]
    if name == "plateau":
        assert rates == sorted(rates, reverse=True)
    else:
        schedule = make_schedule(name, 60)
        assert rates == [0.1 * schedule.factor(r["step"] - 1) for r in records]


def test_cli_default_is_one_cycle_peaking_at_0_1(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TFNN_DATA_DIR", raising=False)
    assert main(["train", *SMALL, "--metrics", "m.jsonl", "--eval-every", "17"]) == 0
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    expected = OneCycle(60)  # peak after step 17 (0.3 x 60 - 1)
    assert [r["step"] for r in records] == [17, 30, 34, 51, 60]
    assert [r["lr"] for r in records] == [0.1 * expected.factor(r["step"] - 1) for r in records]
    assert records[0]["lr"] < 0.1 and max(r["lr"] for r in records) == records[0]["lr"]


def test_cli_warm_up_then_cosine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TFNN_DATA_DIR", raising=False)
    flags = ["--schedule", "cosine", "--warmup-steps", "40", "--lr", "0.05"]
    assert main(["train", *SMALL, *flags, "--metrics", "m.jsonl"]) == 0
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    expected = CosineDecay(60, warmup_steps=40)
    assert [r["lr"] for r in records] == [0.05 * expected.factor(s - 1) for s in (30, 60)]
    assert records[0]["lr"] == pytest.approx(0.05 * 30 / 40, rel=1e-15)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--schedule", "onecycle", "--warmup-steps", "3"], "onecycle warms up by itself"),
        (["--schedule", "step", "--warmup-steps", "60"], "60 warm-up steps leave nothing"),
        (["--warmup-steps", "3"], "onecycle warms up by itself"),
    ],
)
def test_cli_bad_schedule_flags_are_one_line(tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TFNN_DATA_DIR", raising=False)
    assert main(["train", *SMALL, *flags]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize(
    "flags", [["--schedule", "linear"], ["--warmup-steps", "-1"], ["--warmup-steps", "x"]]
)
def test_cli_rejects_unknown_schedules_and_bad_warm_up(flags, capsys):
    assert main(["train", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flags[0] in err
