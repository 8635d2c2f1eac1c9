"""``tfnn bench --quick`` end to end: files written, schema, numbers for every contender."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tfnn.bench.report import REQUIRED_KEYS, SCHEMA
from tfnn.cli import main


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    status = main(["bench", "--quick", "--out", str(out)])
    return status, out, json.loads((out / "results.json").read_text())


def test_quick_run_succeeds_and_writes_results(quick):
    status, out, results = quick
    assert status == 0
    assert results["schema"] == SCHEMA
    assert set(REQUIRED_KEYS) <= set(results)
    assert results["settings"]["quick"] is True
    assert results["machine"]["cpu_model"]
    assert "OPENBLAS_CORETYPE" in results["environment"]


def test_every_contender_has_numbers(quick):
    _, _, results = quick
    repeats = results["settings"]["repeats"]
    assert {w["model"] for w in results["workloads"]} == {"mlp", "taskflow-mnist"}
    for w in results["workloads"]:
        names = set(w["contenders"])
        assert {"numpy-loop", "tfnn-numpy-sequential"} <= names
        # PyTorch is an optional reference: timed where installed, skipped (with its reason)
        # on a bare install.
        assert ("torch-cpu" in names) == (importlib.util.find_spec("torch") is not None)
        assert {"tfnn-numpy-condition-w2b1", "tfnn-numpy-condition-w1b2"} <= names
        assert w["guard"]["passed"]
        assert all(w["guard"]["bitwise_equal"].values())
        for name, c in w["contenders"].items():
            assert len(c["samples_per_second"]) == repeats, name
            assert all(rate > 0 for rate in c["samples_per_second"]), name
            assert c["min"] <= c["median"] <= c["max"], name
            assert c["samples"] == [w["samples_per_run"]] * repeats, name
            assert c["ratio"] > 0, name
            assert c["settings"]["blas_threads"] >= 1, name
            assert c["loss_curve"], name
        assert w["contenders"]["numpy-loop"]["ratio"] == pytest.approx(1.0)


def test_unusable_contenders_are_listed_with_a_reason(quick):
    _, _, results = quick
    names = {n for w in results["workloads"] for n in w["contenders"]}
    for skipped in results["skipped"]:
        assert skipped["reason"]
        assert skipped["contender"] not in names


def test_overhead_measured(quick):
    _, _, results = quick
    per_task = results["overhead"]["per_task"]
    assert set(per_task) == {"chain", "fan", "loop"}
    assert all(v["median_us"] > 0 for graph in per_task.values() for v in graph.values())
    assert all(n > 0 for n in results["overhead"]["condition_tasks_per_step"].values())


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib")
def test_plots_written(quick):
    _, out, results = quick
    assert set(results["plots"]) == {"throughput.png", "loss_vs_time.png", "overhead.png"}
    for name in results["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
