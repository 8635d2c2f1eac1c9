"""``tfnn bench --quick`` end to end: files written, schema, numbers for every contender;
its runs are too short to compare, and the table says so instead of printing ratios."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tfnn.bench.model import MIN_SECONDS
from tfnn.bench.report import SCHEMA
from tfnn.cli import main

# The quick run times 14 contenders on 2 workloads: about a minute on 2 quiet cores, more
# when the machine is shared.
pytestmark = pytest.mark.timeout(300)

REQUIRED_KEYS = (
    *("schema", "command", "machine", "versions", "blas", "threads", "environment"),
    *("settings", "timed", "workloads", "skipped", "overhead", "plots"),
)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    status = main(["bench", "--quick", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    return status, out, results, results["table"]


def test_quick_run_succeeds_and_writes_results(quick):
    status, out, results, _ = quick
    assert status == 0
    assert results["schema"] == SCHEMA
    assert set(REQUIRED_KEYS) <= set(results)
    assert results["settings"]["quick"] is True
    assert results["machine"]["cpu_model"]
    assert "OPENBLAS_CORETYPE" in results["environment"]
    assert results["versions"]["numpy"] and results["threads"]["cores"]
    assert results["settings"]["warmup_steps_per_run"] > 0


def test_every_contender_has_numbers(quick):
    _, _, results, _ = quick
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
        base = w["contenders"]["numpy-loop"]
        for name, c in w["contenders"].items():
            assert len(c["samples_per_second"]) == repeats, name
            assert all(rate > 0 for rate in c["samples_per_second"]), name
            assert c["min"] <= c["median"] <= c["max"], name
            assert c["samples"] == [w["samples_per_run"]] * repeats, name
            assert c["too_short"] == (min(c["seconds"]) < MIN_SECONDS), name
            assert (c["ratio"] is None) == (c["too_short"] or base["too_short"]), name
            assert c["settings"]["blas_threads"] >= 1, name
            assert c["loss_curve"], name


def test_unusable_contenders_are_listed_with_a_reason(quick):
    _, _, results, _ = quick
    names = {n for w in results["workloads"] for n in w["contenders"]}
    for skipped in results["skipped"]:
        assert skipped["reason"]
        assert skipped["contender"] not in names


def test_overhead_measured(quick):
    _, _, results, _ = quick
    per_task = results["overhead"]["per_task"]
    assert set(per_task) == {"chain", "fan", "loop"}
    assert all(v["median_us"] > 0 for graph in per_task.values() for v in graph.values())
    assert all(n > 0 for n in results["overhead"]["condition_tasks_per_step"].values())


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib")
def test_plots_written(quick):
    _, out, results, _ = quick
    assert set(results["plots"]) == {"throughput.png", "loss_vs_time.png"}
    for name in results["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_table_prints_no_ratio_for_runs_too_short_to_compare(quick):
    _, _, results, table = quick
    for w in results["workloads"]:
        for name, c in w["contenders"].items():
            row = next(line for line in table.splitlines() if line.split()[:2] == [w["name"], name])
            assert row.endswith("too short") if c["ratio"] is None else row.endswith("x")
