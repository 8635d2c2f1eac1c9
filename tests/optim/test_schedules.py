"""Learning-rate schedules: values against their formulas and torch.optim.lr_scheduler,
plateau decisions, state round trips, the optimizers' use of them, and argument errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tfnn import optim
from tfnn.nn import Parameter
from tfnn.optim import (
    ConstantLR,
    CosineDecay,
    OneCycle,
    ReduceOnPlateau,
    ScheduleError,
    StepDecay,
    make_schedule,
)


def factors(schedule, steps):
    return [schedule.factor(t) for t in range(steps)]


# -- formulas at chosen steps ---------------------------------------------------------------


def test_constant_is_one_and_warms_up_linearly():
    assert factors(ConstantLR(), 3) == [1.0, 1.0, 1.0]
    assert factors(ConstantLR(warmup_steps=4), 6) == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_step_decay_counts_after_the_warm_up():
    schedule = StepDecay(step_size=3, gamma=0.5)
    assert factors(schedule, 7) == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    warm = StepDecay(step_size=3, gamma=0.5, warmup_steps=2)
    assert factors(warm, 6) == [0.5, 1.0, 1.0, 1.0, 1.0, 0.5]


def test_cosine_halfway_end_and_floor():
    schedule = CosineDecay(total_steps=100)
    assert schedule.factor(0) == 1.0
    assert schedule.factor(50) == pytest.approx(0.5, abs=1e-15)
    assert schedule.factor(25) == pytest.approx((1 + math.cos(math.pi / 4)) / 2, rel=1e-15)
    assert schedule.factor(100) == pytest.approx(0.0, abs=1e-15)
    assert schedule.factor(500) == schedule.factor(100)  # flat after its end
    floor = CosineDecay(total_steps=100, min_factor=0.1)
    assert floor.factor(50) == pytest.approx(0.55, rel=1e-15)
    assert floor.factor(100) == pytest.approx(0.1, rel=1e-15)


def test_cosine_warm_up_then_the_cosine_over_the_rest():
    schedule = CosineDecay(total_steps=110, warmup_steps=10)
    assert schedule.factor(0) == 0.1
    assert schedule.factor(9) == 1.0
    assert schedule.factor(10) == 1.0
    assert schedule.factor(60) == pytest.approx(0.5, abs=1e-15)


def test_one_cycle_rises_to_the_peak_then_falls_to_the_floor():
    schedule = OneCycle(total_steps=1000, pct_start=0.3, div_factor=25.0, final_div_factor=1e4)
    assert schedule.factor(0) == pytest.approx(1 / 25, rel=1e-15)
    assert schedule.factor(299) == 1.0
    middle = (1 - 1 / 25e4) / 2 + 1 / 25e4  # halfway down the second phase
    assert schedule.factor(299 + 350) == pytest.approx(middle, rel=1e-12)
    assert schedule.factor(999) == pytest.approx(1 / 25e4, rel=1e-12)
    assert schedule.factor(5000) == schedule.factor(999)


def test_plateau_reduces_after_patience_and_cools_down():
    plateau = ReduceOnPlateau(monitor="loss", factor=0.5, patience=1, cooldown=1)
    scales = []
    for loss in (1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.95):
        plateau.observe(loss, None)
        scales.append(plateau.scale)
    # bad counts: 0 0 1 2->reduce, (cooldown) 0, 1, 2->reduce, (cooldown) 0
    assert scales == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert plateau.factor(123) == 0.25


def test_plateau_on_accuracy_wants_it_higher_and_stops_at_min_factor():
    plateau = ReduceOnPlateau(monitor="accuracy", factor=0.1, patience=0, min_factor=0.05)
    for accuracy, scale in ((0.9, 1.0), (0.95, 1.0), (0.95, 0.1), (0.96, 0.1), (0.9, 0.05)):
        plateau.observe(loss=0.0, accuracy=accuracy)
        assert plateau.scale == scale, accuracy


def test_plateau_threshold_is_relative():
    plateau = ReduceOnPlateau(monitor="loss", patience=0, threshold=0.1)
    plateau.observe(1.0, None)
    plateau.observe(0.95, None)  # not 10% better
    assert plateau.scale == 0.1
    assert plateau.best == 1.0


# -- against torch.optim.lr_scheduler -------------------------------------------------------

BASE_LR = 0.1
STEPS = 60


def torch_rates(make, steps=STEPS, metrics=None):
    """The lr torch applies at each step (read before the step, as the update uses it)."""
    torch = pytest.importorskip("torch", reason="torch is not installed; the cross-check needs it")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE_LR)
    scheduler = make(torch.optim.lr_scheduler, opt)
    rates = []
    for t in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step(*([metrics[t]] if metrics is not None else []))
    return rates


TORCH_CASES = [
    pytest.param(ConstantLR(), lambda s, o: s.ConstantLR(o, factor=1.0), id="constant"),
    pytest.param(
        ConstantLR(warmup_steps=8),
        lambda s, o: s.LinearLR(o, start_factor=1 / 8, total_iters=7),
        id="constant-warmup",
    ),
    pytest.param(
        StepDecay(step_size=7, gamma=0.3),
        lambda s, o: s.StepLR(o, step_size=7, gamma=0.3),
        id="step",
    ),
    pytest.param(
        CosineDecay(total_steps=STEPS),
        lambda s, o: s.CosineAnnealingLR(o, T_max=STEPS),
        id="cosine",
    ),
    pytest.param(
        CosineDecay(total_steps=STEPS, min_factor=0.2),
        lambda s, o: s.CosineAnnealingLR(o, T_max=STEPS, eta_min=0.2 * BASE_LR),
        id="cosine-floor",
    ),
    pytest.param(
        CosineDecay(total_steps=STEPS, warmup_steps=10),
        lambda s, o: s.SequentialLR(
            o,
            [
                s.LinearLR(o, start_factor=1 / 10, total_iters=9),
                s.CosineAnnealingLR(o, T_max=STEPS - 10),
            ],
            milestones=[10],
        ),
        id="cosine-warmup",
    ),
    pytest.param(
        OneCycle(total_steps=STEPS),
        lambda s, o: s.OneCycleLR(o, max_lr=BASE_LR, total_steps=STEPS),
        id="onecycle",
    ),
    pytest.param(
        OneCycle(total_steps=STEPS, pct_start=0.5, div_factor=10.0, final_div_factor=100.0),
        lambda s, o: s.OneCycleLR(
            o,
            max_lr=BASE_LR,
            total_steps=STEPS,
            pct_start=0.5,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        id="onecycle-settings",
    ),
]


@pytest.mark.parametrize(("ours", "theirs"), TORCH_CASES)
def test_rates_match_torch(ours, theirs):
    expected = torch_rates(theirs)
    assert [BASE_LR * f for f in factors(ours, STEPS)] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("mode", ["loss", "accuracy"])
def test_plateau_matches_torch(mode):
    rng = np.random.default_rng(0)
    # A noisy curve that improves, then stalls: reductions and cooldowns both happen.
    trend = np.concatenate([np.linspace(1.0, 0.5, 15), np.full(45, 0.5)])
    loss = (trend + 0.01 * rng.standard_normal(STEPS)).tolist()
    metric = loss if mode == "loss" else [1.0 - v for v in loss]
    plateau = ReduceOnPlateau(monitor=mode, factor=0.5, patience=3, cooldown=2, min_factor=0.01)
    ours = []
    for value in metric:
        ours.append(BASE_LR * plateau.factor(0))
        plateau.observe(value, value)
    expected = torch_rates(
        lambda s, o: s.ReduceLROnPlateau(
            o,
            mode="min" if mode == "loss" else "max",
            factor=0.5,
            patience=3,
            cooldown=2,
            min_lr=0.01 * BASE_LR,
        ),
        metrics=metric,
    )
    assert ours == pytest.approx(expected, rel=1e-12)
    assert min(expected) < BASE_LR / 4  # the case does reduce, more than once


# -- state, optimizers, the CLI's factory ---------------------------------------------------


def test_plateau_state_round_trips_through_json():
    a = ReduceOnPlateau(monitor="accuracy", patience=0, cooldown=3)
    for accuracy in (0.5, 0.6, 0.6):
        a.observe(1.0, accuracy)
    saved = json.loads(json.dumps(a.state_dict()))
    b = ReduceOnPlateau(monitor="accuracy", patience=0, cooldown=3)
    b.load_state_dict(saved)
    assert (b.scale, b.best, b.bad, b.cooldown_left) == (a.scale, a.best, a.bad, a.cooldown_left)
    for accuracy in (0.6, 0.6, 0.6, 0.6, 0.7):
        a.observe(1.0, accuracy)
        b.observe(1.0, accuracy)
        assert b.scale == a.scale


def test_state_of_another_schedule_is_refused():
    saved = CosineDecay(total_steps=100).state_dict()
    with pytest.raises(ScheduleError, match=r"CosineDecay\(total_steps=100"):
        CosineDecay(total_steps=200).load_state_dict(saved)
    with pytest.raises(ScheduleError, match="use the schedule the state was saved with"):
        ConstantLR().load_state_dict(saved)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_optimizers_apply_the_scheduled_rate(kind):
    """A scheduled run equals a run whose lr is set by hand before each step."""

    def run(schedule):
        rng = np.random.default_rng(1)
        param = Parameter("w", rng.standard_normal(5).astype(np.float32))
        make = optim.SGD if kind == "sgd" else optim.Adam
        opt = make([param], lr=0.05, **({"momentum": 0.9} if kind == "sgd" else {}))
        if schedule is not None:
            opt.schedule = schedule
        for t in range(6):
            if schedule is None:
                opt.lr = 0.05 * (0.5 if t >= 3 else 1.0)
            param.grad = rng.standard_normal(5).astype(np.float32)
            opt.step()
        assert param.value.dtype == np.float32
        return param.value

    np.testing.assert_array_equal(run(StepDecay(step_size=3, gamma=0.5)), run(None))


def test_each_parameter_runs_on_its_own_update_count():
    params = [Parameter(n, np.ones(2, np.float32)) for n in ("a", "b")]
    opt = optim.SGD(params, lr=1.0)
    opt.schedule = StepDecay(step_size=1, gamma=0.5)
    params[0].grad = np.ones(2, np.float32)
    opt.step()  # b has no grad: its clock stays at 0
    params[1].grad = np.ones(2, np.float32)
    opt.step()
    assert opt.steps == [2, 1]
    assert params[0].value.tolist() == [-0.5, -0.5]  # 1 - 1.0 - 0.5
    assert params[1].value.tolist() == [0.0, 0.0]  # its first update: the full rate
    assert opt.last_lr == 0.5


def test_make_schedule_covers_every_name():
    assert isinstance(make_schedule("constant", 100), ConstantLR)
    step = make_schedule("step", 100, warmup_steps=10)
    assert (step.step_size, step.gamma, step.warmup_steps) == (30, 0.1, 10)
    assert make_schedule("cosine", 100, 5).config() == CosineDecay(100, 5).config()
    assert make_schedule("onecycle", 100).total_steps == 100
    plateau = make_schedule("plateau", 100)
    assert isinstance(plateau, ReduceOnPlateau) and plateau.monitor == "accuracy"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ConstantLR(warmup_steps=-1), "warmup_steps must be a whole number >= 0"),
        (lambda: ConstantLR(warmup_steps=2.5), "warmup_steps must be a whole number"),
        (lambda: StepDecay(step_size=0), "step_size must be a whole number >= 1"),
        (lambda: StepDecay(step_size=5, gamma=0.0), r"gamma must be a number in \(0.0, 1.0\]"),
        (lambda: CosineDecay(total_steps=0), "total_steps must be a whole number >= 1"),
        (lambda: CosineDecay(10, warmup_steps=10), "must be fewer than total_steps"),
        (lambda: CosineDecay(10, min_factor=1.5), r"min_factor must be a number in \[0.0, 1.0\]"),
        (lambda: OneCycle(total_steps=3), "pct_start \\* total_steps"),
        (lambda: OneCycle(100, pct_start=float("nan")), "pct_start must be a number"),
        (lambda: ReduceOnPlateau(monitor="val_loss"), "monitor must be 'loss' or 'accuracy'"),
        (lambda: ReduceOnPlateau(factor=1.0), "factor must be below 1"),
        (lambda: ReduceOnPlateau(patience=-1), "patience must be a whole number >= 0"),
        (lambda: make_schedule("linear", 100), "unknown schedule 'linear'; choose one of"),
        (lambda: make_schedule("onecycle", 100, 10), "onecycle warms up by itself"),
        (lambda: make_schedule("cosine", 100, 100), "100 warm-up steps leave nothing"),
    ],
)
def test_bad_arguments_say_what_to_pass(make, message):
    with pytest.raises(ScheduleError, match=message):
        make()


def test_check_refuses_a_run_longer_than_the_schedule():
    CosineDecay(total_steps=100).check(100, has_accuracy=False)
    with pytest.raises(ScheduleError, match="pass total_steps=120"):
        CosineDecay(total_steps=100).check(120, has_accuracy=False)
    with pytest.raises(ScheduleError, match="needs evaluation data"):
        ReduceOnPlateau(monitor="accuracy").check(10, has_accuracy=False)
    StepDecay(step_size=10).check(10**6, has_accuracy=False)
