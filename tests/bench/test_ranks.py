"""``tfnn bench --ranks N``: the flag, the skip reasons, a failing job, and a real 2-rank run.

The real runs start ``mpiexec -n 2`` and skip, with the reason, where mpi4py or a
launcher is missing (``tfnn.bench.ranks.unavailable_ranks`` decides, as ``tfnn bench``
does).
"""

from __future__ import annotations

import json
import math
import re
import sys

import pytest

from tfnn.bench import ranks
from tfnn.bench.command import rank_counts
from tfnn.bench.contenders import TrainingContender, contenders_for
from tfnn.bench.model import BenchError
from tfnn.cli import main
from tfnn.parallel import blas_threads_per_rank

SMALL = ["--backends", "numpy", "--models", "taskflow-mnist", "--steps", "2", "--repeats", "1"]
NAMES = ("tfnn-numpy-condition@2-ranks", "mpi4py-loop@2-ranks")


def _mpi_here() -> None:
    loop = ranks.rank_contenders([], [], [2])[0]
    reason = ranks.unavailable_ranks(loop)
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1", "argument --ranks: '1': 1 rank is a single process; give counts >= 2"),
        ("2,1", "argument --ranks: '2,1': 1 rank is a single process"),
        ("0", "argument --ranks: 0 is not a whole number >= 1"),
        ("-2", "argument --ranks: -2 is not a whole number >= 1"),
        ("2,x", "argument --ranks: x is not a whole number >= 1"),
        ("", "argument --ranks: '' lists no number"),
    ],
)
def test_bad_rank_counts_are_one_line_argparse_errors(value, message, tmp_path, capsys, no_work):
    status = main(["bench", *SMALL, f"--ranks={value}", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert status != 0
    assert len(err.splitlines()) == 1 and err.startswith("tfnn: error:"), err
    assert message in err


@pytest.mark.smoke
def test_rank_counts_keep_each_count_once_in_order():
    assert rank_counts("4,2,4") == [4, 2]


@pytest.mark.smoke
def test_each_rank_count_brings_tfnn_per_strategy_and_the_mpi4py_loop():
    got = ranks.rank_contenders([("numpy", "cpu")], ["condition", "sequential"], [2, 4])
    assert [c.name for c in got] == [
        "tfnn-numpy-condition@2-ranks",
        "tfnn-numpy-sequential@2-ranks",
        "mpi4py-loop@2-ranks",
        "tfnn-numpy-condition@4-ranks",
        "tfnn-numpy-sequential@4-ranks",
        "mpi4py-loop@4-ranks",
    ]
    for c in got:
        assert c.blas_threads == blas_threads_per_rank(c.ranks)
        assert c.settings()["ranks"] == c.ranks


def _skipped():
    runnable, skipped = contenders_for(["numpy"], ["condition", "pipelined"], 2, [4], ranks=[2])
    assert not {c.name for c in runnable} & set(NAMES)
    return {s["contender"]: s["reason"] for s in skipped}


def test_without_mpi4py_the_contenders_are_skipped_with_the_reason(monkeypatch):
    find_spec = ranks.importlib.util.find_spec
    monkeypatch.setattr(
        ranks.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "mpi4py" else find_spec(name, *args),
    )
    reasons = _skipped()
    for name in NAMES:
        assert "mpi4py" in reasons[name] and "pip install 'tfnn[mpi]'" in reasons[name]


def test_without_mpiexec_the_contenders_are_skipped_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(ranks.importlib.util, "find_spec", lambda name, *args: object())
    assert ranks.mpiexec() is None
    reasons = _skipped()
    for name in NAMES:
        assert f"mpiexec beside {tmp_path / 'python'} or on PATH" in reasons[name]


def test_ranks_on_a_gpu_or_a_serial_only_strategy_are_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr(ranks, "unavailable", lambda backend, device: None)
    gpu = ranks.rank_contenders([("cupy", "cuda:0")], ["condition"], [2])[0]
    assert gpu.name == "tfnn-cupy-cuda0-condition@2-ranks"
    assert ranks.unavailable_ranks(gpu) == "--ranks times CPU ranks only, not cupy on cuda:0"
    pipelined = ranks.rank_contenders([("numpy", "cpu")], ["pipelined"], [2])[0]
    assert "pipelined strategy does not train data parallel" in ranks.unavailable_ranks(pipelined)


def test_a_failing_worker_is_one_bench_error_with_its_last_stderr_line():
    code = "import sys; print('noise', file=sys.stderr); sys.exit('the worker broke')"
    with pytest.raises(BenchError) as caught:
        ranks.launch(1, ["-c", code], what="w")
    assert str(caught.value) == "w failed (exit status 1): the worker broke"


@pytest.mark.mpi
@pytest.mark.timeout(120)
def test_a_rank_that_fails_ends_the_job_with_its_own_line():
    _mpi_here()
    from tfnn.bench.workload import load_data, make_workload

    workload = make_workload("taskflow-mnist", load_data(), 128, 4)
    broken = TrainingContender("broken@2-ranks", "tfnn-ranks", "numpy", strategy="nope", ranks=2)
    with pytest.raises(BenchError) as caught:
        ranks.run_ranks(broken, workload)
    message = str(caught.value)
    assert message.startswith("broken@2-ranks (mpiexec -n 2) failed (exit status")
    # every rank fails alike; the first to report decides which one is quoted
    assert re.search(
        r"tfnn: rank [01] of 2 failed: InvalidArgument: unknown strategy 'nope'", message
    )
    assert "\n" not in message


@pytest.mark.mpi
@pytest.mark.timeout(300)
def test_a_two_rank_bench_times_both_contenders(tmp_path):
    _mpi_here()
    out = tmp_path / "out"
    args = ["--quick", "--ranks", "2", "--backends", "numpy", "--strategies", "condition"]
    assert main(["bench", *args, "--models", "taskflow-mnist", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["ranks"] == [2]
    (workload,) = results["workloads"]
    for name in NAMES:
        c = workload["contenders"][name]
        assert len(c["samples_per_second"]) == results["settings"]["repeats"], name
        assert math.isfinite(c["median"]) and c["median"] > 0, name
        assert c["samples"] == [workload["samples_per_run"]] * len(c["samples"]), name
        assert c["settings"]["ranks"] == 2 and c["loss_curve"], name
        # the guard trained it too, to the numpy loop's weights
        assert workload["guard"]["max_abs_diff"][name] < 1e-4, name
    assert "tfnn-numpy-condition@2-ranks" in results["table"]
