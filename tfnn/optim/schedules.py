"""Learning-rate schedules: the factor by which an optimizer scales its ``lr`` at each step.

An optimizer applies ``lr * schedule.factor(t)`` at update ``t`` of a parameter (0-based:
``Optimizer.steps[i] - 1``). The clock is each parameter's own update count, not a global
step: in the ``pipelined`` strategy the upper layers' update of step ``s`` runs during step
``s + 1``, and still counts ``s``, so every strategy applies the same rate at the same step
and stays bitwise equal. Factors are Python floats computed on the host from that count
(no device sync; no numpy scalar that would promote float32 weights to float64).

With ``W`` warm-up steps the rate rises linearly first, and the schedule's own clock
``u = t - W`` starts after it (torch's ``SequentialLR([LinearLR, ...], milestones=[W])``)::

    factor(t) = (t + 1) / W * decay(0)         t < W
    factor(t) = decay(t - W)                   otherwise

    ConstantLR        decay(u) = 1
    StepDecay         decay(u) = gamma ** (u // step_size)
    CosineDecay       decay(u) = m + (1 - m) (1 + cos(pi min(u, T) / T)) / 2,  T = total - W
    OneCycle          torch's OneCycleLR (cos): 1/div -> 1 over the first pct_start of the
                      steps, then -> 1/(div * final_div) at step total - 1 (no warm-up)
    ReduceOnPlateau   decay(u) = scale; ``observe`` at each evaluation multiplies scale by
                      ``factor`` after more than ``patience`` evaluations without improvement

State: every schedule but ``ReduceOnPlateau`` is a pure function of ``t``; the optimizer's
step counts (already in checkpoints) are its position. ``ReduceOnPlateau`` keeps ``scale``,
``best``, ``bad`` (evaluations without improvement) and ``cooldown_left``; ``state_dict``
holds them with the type and settings, so a resumed run continues the same curve.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any, ClassVar

from tfnn.errors import InvalidArgument


class ScheduleError(InvalidArgument):
    """A schedule's settings cannot work; the message says which and what to pass instead."""


def _whole(name: str, value: Any, minimum: int) -> int:
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise ScheduleError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return number


def _number(name: str, value: Any, low: float, high: float, *, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (open_low and value == low):
        where = f"({low}, {high}]" if open_low else f"[{low}, {high}]"
        raise ScheduleError(f"{name} must be a number in {where}, not {value!r}")
    return float(value)


class Schedule:
    """Base class: subclasses give ``decay(u)`` on their own clock (see the module docstring).

    Example::

        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        opt.schedule = optim.CosineDecay(total_steps=4690, warmup_steps=100)
        opt.lr_at(1)   # the rate of the first update: 0.1 * 1/100
    """

    name: ClassVar[str] = ""
    total_steps: int | None = None

    def __init__(self, warmup_steps: int = 0) -> None:
        self.warmup_steps = _whole("warmup_steps", warmup_steps, 0)

    def factor(self, step: int) -> float:
        """The multiplier of the optimizer's ``lr`` at 0-based ``step``."""
        warmup = self.warmup_steps
        if step < warmup:
            return (step + 1) / warmup * self.decay(0)
        return self.decay(step - warmup)

    def decay(self, step: int) -> float:
        raise NotImplementedError

    def observe(self, loss: float, accuracy: float | None) -> None:
        """An evaluation's results (mean training loss, test accuracy); most ignore them."""

    def check(self, total_steps: int, has_accuracy: bool) -> None:
        """Refuse a run of ``total_steps`` steps this schedule does not cover."""
        if self.total_steps is not None and total_steps > self.total_steps:
            raise ScheduleError(
                f"{self!r} ends at step {self.total_steps} but this run takes {total_steps} "
                f"steps; pass total_steps={total_steps} (epochs x batches per epoch)"
            )

    def config(self) -> dict[str, Any]:
        """The settings, as the constructor takes them (JSON-able)."""
        return {"warmup_steps": self.warmup_steps}

    def state_dict(self) -> dict[str, Any]:
        """``{"type", "config", "state"}``: what a checkpoint keeps (JSON-able).

        Example::

            saved = schedule.state_dict()
            schedule.load_state_dict(saved)
        """
        return {"type": type(self).__name__, "config": self.config(), "state": self._state()}

    def load_state_dict(self, saved: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned, for a schedule of the same type and settings."""
        mine = self.state_dict()
        if saved.get("type") != mine["type"] or saved.get("config") != mine["config"]:
            raise ScheduleError(
                f"the state is for {saved.get('type')}({_arguments(saved.get('config', {}))}), "
                f"not {self!r}; use the schedule the state was saved with"
            )
        self._load_state(saved.get("state", {}))

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_arguments(self.config())})"


def _arguments(config: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in config.items())


class ConstantLR(Schedule):
    """The optimizer's ``lr`` at every step, after an optional linear warm-up.

    Example::

        ConstantLR(warmup_steps=50).factor(9)   # 0.2
    """

    name = "constant"

    def decay(self, step: int) -> float:
        return 1.0


class StepDecay(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` steps (torch's ``StepLR``, per step).

    Example::

        StepDecay(step_size=1000, gamma=0.1).factor(2500)   # 0.01 (up to rounding)
    """

    name = "step"

    def __init__(self, step_size: int, gamma: float = 0.1, warmup_steps: int = 0) -> None:
        super().__init__(warmup_steps)
        self.step_size = _whole("step_size", step_size, 1)
        self.gamma = _number("gamma", gamma, 0.0, 1.0, open_low=True)

    def decay(self, step: int) -> float:
        return self.gamma ** (step // self.step_size)

    def config(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma, **super().config()}


class CosineDecay(Schedule):
    """Half a cosine from ``1`` to ``min_factor`` over the steps after the warm-up; then flat.

    Example::

        CosineDecay(total_steps=100).factor(50)   # 0.5
    """

    name = "cosine"

    def __init__(self, total_steps: int, warmup_steps: int = 0, min_factor: float = 0.0) -> None:
        super().__init__(warmup_steps)
        self.total_steps = _whole("total_steps", total_steps, 1)
        if self.warmup_steps >= total_steps:
            raise ScheduleError(
                f"warmup_steps ({warmup_steps}) must be fewer than total_steps ({total_steps})"
            )
        self.span = total_steps - self.warmup_steps
        self.min_factor = _number("min_factor", min_factor, 0.0, 1.0)

    def decay(self, step: int) -> float:
        span = self.span
        cosine = (1.0 + math.cos(math.pi * min(step, span) / span)) / 2.0
        return self.min_factor + (1.0 - self.min_factor) * cosine

    def config(self) -> dict[str, Any]:
        return {
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_factor": self.min_factor,
        }


class OneCycle(Schedule):
    """torch's ``OneCycleLR`` (cosine annealing, two phases) with the optimizer's ``lr`` as
    ``max_lr``: from ``1/div_factor`` up to 1, then down to ``1/(div_factor *
    final_div_factor)``. It warms up by itself, so it takes no ``warmup_steps``.

    Example::

        OneCycle(total_steps=1000).factor(299)   # 1.0, the peak (pct_start 0.3)
    """

    name = "onecycle"

    def __init__(
        self,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ) -> None:
        super().__init__(0)
        self.total_steps = _whole("total_steps", total_steps, 2)
        self.last = total_steps - 1
        self.pct_start = _number("pct_start", pct_start, 0.0, 1.0, open_low=True)
        self.div_factor = _number("div_factor", div_factor, 1.0, math.inf)
        self.final_div_factor = _number("final_div_factor", final_div_factor, 1.0, math.inf)
        self.peak = self.pct_start * total_steps - 1.0
        if not 0.0 < self.peak < self.last:
            raise ScheduleError(
                f"pct_start * total_steps ({self.pct_start} x {self.total_steps}) must lie "
                f"between 1 and total_steps; use more steps or another pct_start"
            )

    def decay(self, step: int) -> float:
        initial = 1.0 / self.div_factor
        # The same phases and the same float arithmetic order as torch's OneCycleLR.
        step = min(step, self.last)
        if step <= self.peak:
            return _cosine_between(initial, 1.0, step / self.peak)
        final = initial / self.final_div_factor
        return _cosine_between(1.0, final, (step - self.peak) / (self.last - self.peak))

    def config(self) -> dict[str, Any]:
        return {
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }


def _cosine_between(start: float, end: float, fraction: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1.0)


class ReduceOnPlateau(Schedule):
    """torch's ``ReduceLROnPlateau`` (relative threshold), decided at each evaluation.

    ``monitor`` is ``"loss"`` (the mean training loss since the last evaluation, lower is
    better) or ``"accuracy"`` (on the evaluation data, higher is better). After more than
    ``patience`` evaluations without an improvement beyond ``threshold`` (relative), the
    scale is multiplied by ``factor`` (not below ``min_factor``) and ``cooldown``
    evaluations pass before counting again.

    Example::

        plateau = ReduceOnPlateau(monitor="accuracy", patience=1)
        for acc in (0.90, 0.95, 0.95, 0.95):
            plateau.observe(loss=0.1, accuracy=acc)
        plateau.scale   # 0.1: the fourth evaluation was the second without improvement
    """

    name = "plateau"

    def __init__(
        self,
        monitor: str = "loss",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        cooldown: int = 0,
        min_factor: float = 0.0,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__(warmup_steps)
        if monitor not in ("loss", "accuracy"):
            raise ScheduleError(f"monitor must be 'loss' or 'accuracy', not {monitor!r}")
        self.monitor = monitor
        self.reduce_by = _number("factor", factor, 0.0, 1.0, open_low=True)
        if self.reduce_by == 1.0:
            raise ScheduleError("factor must be below 1 to reduce the rate, e.g. 0.1")
        self.patience = _whole("patience", patience, 0)
        self.threshold = _number("threshold", threshold, 0.0, 1.0)
        self.cooldown = _whole("cooldown", cooldown, 0)
        self.min_factor = _number("min_factor", min_factor, 0.0, 1.0)
        self.scale = 1.0
        self.best: float | None = None
        self.bad = 0
        self.cooldown_left = 0

    def decay(self, step: int) -> float:
        return self.scale

    def check(self, total_steps: int, has_accuracy: bool) -> None:
        if self.monitor == "accuracy" and not has_accuracy:
            raise ScheduleError(
                "ReduceOnPlateau(monitor='accuracy') needs evaluation data; pass eval_data, "
                "or monitor='loss'"
            )

    def observe(self, loss: float, accuracy: float | None) -> None:
        value = loss if self.monitor == "loss" else accuracy
        if value is None:
            raise ScheduleError("ReduceOnPlateau(monitor='accuracy') got no accuracy")
        if self._improves(value):
            self.best, self.bad = value, 0
        else:
            self.bad += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad = 0
        if self.bad > self.patience:
            self.scale = max(self.scale * self.reduce_by, self.min_factor)
            self.cooldown_left = self.cooldown
            self.bad = 0

    def _improves(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.monitor == "loss":
            return value < self.best * (1.0 - self.threshold)
        return value > self.best * (1.0 + self.threshold)

    def config(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "factor": self.reduce_by,
            "patience": self.patience,
            "threshold": self.threshold,
            "cooldown": self.cooldown,
            "min_factor": self.min_factor,
            "warmup_steps": self.warmup_steps,
        }

    def _state(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "best": self.best,
            "bad": self.bad,
            "cooldown_left": self.cooldown_left,
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.scale = float(state["scale"])
        self.best = None if state["best"] is None else float(state["best"])
        self.bad = int(state["bad"])
        self.cooldown_left = int(state["cooldown_left"])


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (ConstantLR, StepDecay, CosineDecay, OneCycle, ReduceOnPlateau)
}


def make_schedule(name: str, total_steps: int, warmup_steps: int = 0) -> Schedule:
    """The schedule ``name`` (a key of ``SCHEDULES``) for a run of ``total_steps`` steps,
    with the settings ``tfnn train --schedule NAME`` uses.

    ``step`` divides the rate by 10 at each third of the steps after the warm-up; ``plateau``
    divides it by 10 after two evaluations in a row without a better test accuracy.

    Example::

        make_schedule("cosine", total_steps=4690, warmup_steps=200)
    """
    if name not in SCHEDULES:
        raise ScheduleError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    _whole("total_steps", total_steps, 1)
    _whole("warmup_steps", warmup_steps, 0)
    if name == "onecycle":
        if warmup_steps:
            raise ScheduleError(
                "onecycle warms up by itself (its first 30% of steps); drop the warm-up "
                "steps, or choose another schedule (e.g. cosine)"
            )
        return OneCycle(total_steps)
    if warmup_steps >= total_steps:
        raise ScheduleError(
            f"{warmup_steps} warm-up steps leave nothing of a {total_steps}-step run; use fewer"
        )
    if name == "step":
        return StepDecay(math.ceil((total_steps - warmup_steps) / 3), 0.1, warmup_steps)
    if name == "cosine":
        return CosineDecay(total_steps, warmup_steps)
    if name == "plateau":
        return ReduceOnPlateau("accuracy", factor=0.1, patience=1, warmup_steps=warmup_steps)
    return ConstantLR(warmup_steps)
