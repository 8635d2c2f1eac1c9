"""``tfnn train`` end to end in a subprocess: summary, metrics file, trace file."""

from __future__ import annotations

import json

SMALL = ["--layers", "784,32,10", "--batch-size", "100"]


def test_plain_train_prints_evaluations_and_a_summary(tfnn):
    result = tfnn("train", "--epochs", "1")
    assert result.returncode == 0, result.stderr
    # Not a terminal: no progress bar, nothing on stderr.
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("data: the MNIST sample embedded in tfnn")
    assert lines[1].startswith("epoch 1  step 47  loss ")
    summary = lines[-1].split()
    assert summary[0] == "accuracy" and float(summary[1]) > 0.85
    assert " ".join(summary[-6:]) == "backend numpy device cpu strategy condition"


def test_metrics_file_has_one_json_object_per_evaluation(tfnn, tmp_path):
    result = tfnn("train", *SMALL, "--epochs", "2", "--eval-every", "25", "--metrics", "m.jsonl")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    # 60 steps an epoch: evaluations at steps 25, 50, 60 (epoch end), 75, 100, 120.
    assert [r["step"] for r in records] == [25, 50, 60, 75, 100, 120]
    assert [r["epoch"] for r in records][2::3] == [1, 2]
    assert all(r["loss"] > 0 and 0 < r["accuracy"] <= 1 for r in records)
    assert result.stdout.count("\nepoch ") == len(records)


def test_trace_file_is_chrome_trace_json(tfnn, tmp_path):
    result = tfnn("train", *SMALL, "--epochs", "1", "--trace", "trace.json")
    assert result.returncode == 0, result.stderr
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    assert {"F0", "loss", "BW0", "U0", "step?"} <= {e["name"] for e in spans}
    assert all(isinstance(e["ts"], (int, float)) and e["dur"] >= 0 for e in spans)
