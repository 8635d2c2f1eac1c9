"""The correctness guard stops a wrong contender before it is timed; the references agree."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn.bench import references
from tfnn.bench.contenders import reference_contenders, tfnn_contenders
from tfnn.bench.guard import Disagreement, guard
from tfnn.bench.model import Run, summarize
from tfnn.bench.workload import MODELS, initial_weights, load_data, make_workload, plan_epochs
from tfnn.cli import main


@pytest.fixture(scope="module")
def workload():
    return make_workload("taskflow-mnist", load_data(), batch_size=32, steps=6)


@pytest.mark.smoke
def test_plan_epochs_runs_exactly_the_steps_in_full_batches():
    for samples, batch, steps in [
        (6000, 128, 200),
        (6000, 1024, 7),
        (60000, 100, 600),
        (50, 50, 3),
    ]:
        epochs, per_epoch = plan_epochs(samples, batch, steps)
        assert epochs * per_epoch == steps
        assert per_epoch * batch <= samples


def test_initial_weights_are_named_like_sequential():
    w = initial_weights(MODELS["mlp"])
    assert list(w) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert w["2.weight"].shape == (128, 256) and w["2.weight"].dtype == np.float32


def test_numpy_loop_matches_tfnn_sequential(workload):
    numpy_loop = reference_contenders()[0].run(workload)
    sequential = tfnn_contenders("numpy", "cpu", ["sequential"], 2, [4])[0].run(workload)
    assert numpy_loop.samples == sequential.samples == 6 * 32
    for name, value in numpy_loop.weights.items():
        np.testing.assert_allclose(sequential.weights[name], value, rtol=1e-4, atol=1e-5)
    assert [p[1] for p in numpy_loop.curve] == [p[1] for p in sequential.curve]


def test_guard_passes_for_every_strategy_bitwise(workload):
    strategies = ["sequential", "two-graph", "condition", "unrolled"]
    contenders = tfnn_contenders("numpy", "cpu", strategies, 2, [4]) + reference_contenders()[:1]
    result = guard(workload, contenders, steps=3)
    assert all(result["bitwise_equal"].values()) and len(result["bitwise_equal"]) == 5
    assert result["reference"] == "numpy-loop"


def test_guard_names_the_contender_that_disagrees(workload, monkeypatch):
    monkeypatch.setattr(references.NumpyMLP, "step", _skip_update(references.NumpyMLP.step))
    contenders = reference_contenders()[:1] + tfnn_contenders("numpy", "cpu", ["condition"], 2, [4])
    with pytest.raises(Disagreement, match="contender tfnn-numpy-condition-w2b1 disagrees"):
        guard(workload, contenders, steps=2)


def test_disagreement_fails_tfnn_bench_with_one_line(monkeypatch, tmp_path, capsys):
    pytest.importorskip("torch", reason="the disagreeing contender here is PyTorch's MLP")
    monkeypatch.setattr(references.TorchMLP, "step", lambda self, x, y: 0.0)
    status = main(
        [
            "bench",
            "--backends",
            "numpy",
            "--strategies",
            "sequential",
            "--models",
            "taskflow-mnist",
            "--steps",
            "4",
            "--repeats",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert len(err.splitlines()) == 1
    assert "torch-cpu disagrees with numpy-loop" in err
    assert not (tmp_path / "results.json").exists()


@pytest.mark.smoke
def test_summarize_ratios_against_the_baseline():
    runs = {"a": [Run(1.0, 100), Run(2.0, 100), Run(0.5, 100)], "b": [Run(1.0, 200)] * 3}
    stats = summarize(runs, "a")
    assert stats["a"].median == 100 and stats["a"].min == 50 and stats["a"].max == 200
    assert stats["b"].ratio == 2.0


def test_unknown_strategy_is_one_line(capsys):
    assert main(["bench", "--strategies", "nope"]) == 1
    assert "unknown strategy 'nope'" in capsys.readouterr().err


def _skip_update(step):
    def wrong(self, x, y):
        lr, self.lr = self.lr, 0.0
        try:
            return step(self, x, y)
        finally:
            self.lr = lr

    return wrong


def test_unknown_backend_is_one_line(capsys):
    assert main(["bench", "--backends", "numpy,jax"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown backend 'jax'" in err


def test_contender_names_carry_their_thread_and_stream_settings(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    cpu = tfnn_contenders("numpy", "cpu", ["sequential", "condition", "unrolled"], 2, [1, 4])
    assert [(c.name, c.workers, c.blas_threads) for c in cpu] == [
        ("tfnn-numpy-sequential", 1, 2),
        ("tfnn-numpy-condition-w2b1", 2, 1),
        ("tfnn-numpy-condition-w1b2", 1, 2),
        ("tfnn-numpy-unrolled-w2b1", 2, 1),
    ]
    gpu = tfnn_contenders("cupy", "cuda:0", ["sequential", "condition"], 2, [1, 4])
    assert [(c.name, c.streams) for c in gpu] == [
        ("tfnn-cupy-cuda0-sequential", 1),
        ("tfnn-cupy-cuda0-condition-w2b1-s1", 1),
        ("tfnn-cupy-cuda0-condition-w2b1-s4", 4),
        ("tfnn-cupy-cuda0-condition-w1b2-s1", 1),
        ("tfnn-cupy-cuda0-condition-w1b2-s4", 4),
    ]
    assert gpu[1].settings()["threads"] == {
        "executor_workers": 2,
        "blas": 1,
        "torch_intra_op": None,
    }
