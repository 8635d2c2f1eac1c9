"""Every contender warms up outside its clock, and a run too short to compare says so.

The clock here is fake and deterministic (no timed test): it advances only when a
training step fetches its batch, by 1 per step plus 100 on the first step of a freshly
built model (what first steps cost for real: allocator, thread pools, optimizer state;
PyTorch CPU ran 20-step runs at 21.5k samples/s against 77k for 200 steps). With the
warm-up outside the clock a short run's figure is the long run's; without it, far below.
"""

from __future__ import annotations

import importlib.util
import time

import pytest

from tfnn import nn
from tfnn.bench import references
from tfnn.bench.contenders import reference_contenders, tfnn_contenders
from tfnn.bench.model import MIN_SECONDS, Run, summarize
from tfnn.bench.report import format_table
from tfnn.bench.workload import load_data, make_workload
from tfnn.data import Batches

FIRST_STEP = 100.0


@pytest.fixture
def fake_clock(monkeypatch):
    now, cold = [0.0], [False]

    def fresh(build):
        def built(*args, **kwargs):
            cold[0] = True
            return build(*args, **kwargs)

        return built

    monkeypatch.setattr(nn, "mlp", fresh(nn.mlp))
    for cls in (references.NumpyMLP, references.TorchMLP):
        monkeypatch.setattr(cls, "__init__", fresh(cls.__init__))
    batch = Batches.batch

    def step_batch(self, epoch, step):
        now[0] += 1.0 + (FIRST_STEP if cold[0] else 0.0)
        cold[0] = False
        return batch(self, epoch, step)

    monkeypatch.setattr(Batches, "batch", step_batch)
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])


def _contenders():
    out = reference_contenders()[:1]
    out += tfnn_contenders("numpy", "cpu", ["sequential", "condition"], 2, [4])
    if importlib.util.find_spec("torch") is not None:
        out += reference_contenders()[1:2] + tfnn_contenders("torch", "cpu", ["sequential"], 2, [4])
    return out


@pytest.mark.timeout(300)  # about 15 s on 2 quiet cores
def test_quick_figure_is_not_far_below_the_full_one(fake_clock):
    data = load_data()
    quick = make_workload("taskflow-mnist", data, batch_size=32, steps=10)
    full = make_workload("taskflow-mnist", data, batch_size=32, steps=50)
    for c in _contenders():
        short, long = c.run(quick).samples_per_second, c.run(full).samples_per_second
        assert short >= 0.8 * long, f"{c.name}: {short:.0f} quick against {long:.0f} full"


@pytest.mark.smoke
def test_too_short_runs_show_no_ratio():
    short, long = MIN_SECONDS / 4, MIN_SECONDS * 4
    runs = {
        "numpy-loop": [Run(long, 1000)] * 3,
        "fast-but-short": [Run(short, 1000)] * 3,
        "long": [Run(long, 2000)] * 3,
    }
    stats = summarize(runs, "numpy-loop")
    assert stats["fast-but-short"].too_short and stats["fast-but-short"].ratio is None
    assert stats["long"].ratio == 2.0 and not stats["long"].too_short
    assert all(s.ratio is None for s in summarize(runs, "fast-but-short").values())
    table = format_table(_results(stats))
    row = next(line for line in table.splitlines() if "fast-but-short" in line)
    assert row.endswith("too short") and "x" not in row.split()[-1]
    assert "2.00x" in next(line for line in table.splitlines() if line.split()[1:2] == ["long"])
    assert "too short: a run under" in table


def _results(stats):
    contenders = {
        name: {**s.to_dict(), "settings": {"workers": None, "blas_threads": 1, "device": "cpu"}}
        for name, s in stats.items()
    }
    guard = {"steps": 1, "max_abs_diff": {"x": 0.0}, "reference": "numpy-loop"}
    return {
        "settings": {"baseline": "numpy-loop"},
        "workloads": [
            {"name": "w", "contenders": contenders, "guard": {**guard, "bitwise_equal": {}}}
        ],
        "skipped": [],
    }
