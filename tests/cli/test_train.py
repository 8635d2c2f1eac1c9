"""``tfnn train`` end to end in a subprocess: summary, metrics file, trace file."""

from __future__ import annotations

import json
import time

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
    assert all(r["train_loss"] > 0 and 0 < r["test_accuracy"] <= 1 for r in records)
    assert result.stdout.count("\nepoch ") == len(records)
    assert set(records[0]) == {
        "epoch", "step", "train_loss", "test_accuracy", "lr", "samples_per_second", "time"
    }  # fmt: skip
    times = [r["time"] for r in records]
    assert times == sorted(times) and abs(times[-1] - time.time()) < 300


def test_trace_file_is_chrome_trace_json(tfnn, tmp_path):
    result = tfnn("train", *SMALL, "--epochs", "1", "--trace", "trace.json")
    assert result.returncode == 0, result.stderr
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    assert {"F0", "loss", "BW0", "U0", "step?"} <= {e["name"] for e in spans}
    assert all(isinstance(e["ts"], (int, float)) and e["dur"] >= 0 for e in spans)


def test_workers_default_to_auto_one_worker_on_the_cpu(tfnn):
    from tfnn.backends import get_backend
    from tfnn.train.workers import workers_for

    assert workers_for(get_backend("numpy")) == 1
    result = tfnn("train", *SMALL, "--epochs", "1", "--workers", "auto")
    assert result.returncode == 0, result.stderr
    result = tfnn("train", *SMALL, "--epochs", "1", "--workers", "2", "--blas-threads", "1")
    assert result.returncode == 0, result.stderr


def test_resuming_a_finished_run_says_so(tfnn, tmp_path):
    first = tfnn("train", *SMALL, "--epochs", "1", "--checkpoint", "ck.st")
    assert first.returncode == 0, first.stderr
    saved = (tmp_path / "ck.st").read_bytes()
    again = tfnn("train", *SMALL, "--epochs", "1", "--checkpoint", "ck.st", "--resume")
    assert again.returncode == 0, again.stderr
    assert "nothing to train: ck.st already finished epoch 1 of --epochs 1" in again.stdout
    assert (tmp_path / "ck.st").read_bytes() == saved


def test_resuming_a_run_that_reached_its_target_says_so(tfnn, tmp_path):
    args = [*SMALL, "--epochs", "3", "--checkpoint", "ck.st", "--target-accuracy", "0.5"]
    first = tfnn("train", *args)
    assert first.returncode == 0, first.stderr
    again = tfnn("train", *args, "--resume")
    assert again.returncode == 0, again.stderr
    assert "nothing to train: ck.st already reached accuracy" in again.stdout
    assert "\nepoch " not in again.stdout
