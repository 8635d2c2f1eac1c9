"""Data-parallel training on 2 MPI ranks, against a single process and against faults.

Each test starts ``mpiexec -n 2 python -m tests.parallel.mpi_cases CASE OUT`` (a few
seconds) and compares what the ranks wrote with a run in this process. Skipped, with the
reason, where mpi4py or a launcher is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.parallel import mpi_cases
from tfnn.checkpoint import load_checkpoint

pytestmark = [pytest.mark.mpi, pytest.mark.timeout(90)]
ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-5  # float32 sums in another order: the weights after 2 epochs differ ~1e-7


def _launcher() -> list[str]:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install 'tfnn[mpi]')")
    mpiexec = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if mpiexec is None:
        pytest.skip("no mpiexec launcher on PATH")
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True).stdout
    extra = []
    if "Open MPI" in version or "OpenRTE" in version:
        extra = ["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    return [mpiexec, *extra, "-n", "2"]


def _launch(case: str, out: Path, *args: int, timeout: float = 60) -> subprocess.CompletedProcess:
    command = [*_launcher(), sys.executable, "-m", "tests.parallel.mpi_cases", case, str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def _ok(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stderr[-3000:]


def _facts(out: Path) -> list[dict]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def _close(got: dict, expected: dict, prefix: str = "") -> float:
    worst = max(float(np.max(np.abs(got[prefix + k] - v))) for k, v in expected.items())
    assert worst < TOLERANCE
    return worst


def test_weights_equal_one_process_and_repeat_bitwise(tmp_path):
    _ok(_launch("weights", tmp_path))
    got = np.load(tmp_path / "weights.npz")
    single = mpi_cases.weight_runs(None)
    for run, expected in single.items():
        _close(got, expected, f"{run}/")
    # One fixed order of reductions: every strategy, worker count and repeat agrees bitwise.
    same = ("sequential", "two-graph", "unrolled", "condition-again", "condition-2-workers")
    for run in (*same, "overlap-start-wait", "overlap-stream", "row-blocks"):
        for name in single["condition"]:
            np.testing.assert_array_equal(got[f"{run}/{name}"], got[f"condition/{name}"])


def test_conditions_agree_on_every_rank(tmp_path):
    _ok(_launch("stops", tmp_path))
    facts = _facts(tmp_path)
    _, single = mpi_cases.train(None, epochs=20, eval_every=4, target_accuracy=0.6)
    assert facts[0]["target_steps"] == facts[1]["target_steps"] == single.steps
    assert facts[0]["target_accuracy"] == facts[1]["target_accuracy"]
    assert facts[0]["target_steps"] < 20 * 16  # stopped by the target, not by the epochs
    # Only rank 1 saw a NaN loss; the summed loss made both ranks stop at the same step.
    assert "diverged" in facts[0] and facts[0]["diverged"] == facts[1]["diverged"]


def test_checkpoint_of_two_ranks_resumes_on_one_and_two(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _ok(_launch("checkpoint", tmp_path, 1))
    assert (tmp_path / "t.json").exists() and (tmp_path / "t.rank1.json").exists()
    for folder in (one, two):
        folder.mkdir()
        shutil.copy(tmp_path / "run.safetensors", folder)
    uninterrupted, _ = mpi_cases.train(None, epochs=2)
    resumed_one, history = mpi_cases.train(
        None, epochs=2, checkpoint=one / "run.safetensors", resume=True
    )
    assert history.steps == 2 * 16
    _close(mpi_cases.weights(resumed_one), mpi_cases.weights(uninterrupted))
    _ok(_launch("checkpoint", two, 2))
    _close(dict(np.load(two / "weights-2.npz")), mpi_cases.weights(uninterrupted))
    assert _facts(two)[0]["steps"] == _facts(two)[1]["steps"] == 2 * 16


def test_a_failing_task_on_one_rank_ends_the_job(tmp_path):
    done = _launch("fail", tmp_path, timeout=30)
    assert done.returncode != 0
    assert "rank 1 of 2 failed in task 'loss': ValueError: injected failure" in done.stderr


def test_sigkill_of_one_rank_ends_the_job_and_the_checkpoint_resumes(tmp_path):
    begin = time.monotonic()
    done = _launch("kill", tmp_path, timeout=30)
    assert done.returncode != 0
    assert time.monotonic() - begin < 30
    _, meta = load_checkpoint(tmp_path / "run.safetensors")  # intact: it loads
    # Killed in step 40; the last evaluation (every 8 steps) was at step 32.
    assert meta["history"]["steps"] == 32
    _ok(_launch("checkpoint", tmp_path, 3))
    assert _facts(tmp_path)[0]["steps"] == 3 * 16


def test_ctrl_c_stops_every_rank(tmp_path):
    command = [
        *_launcher(),
        sys.executable,
        "-m",
        "tests.parallel.mpi_cases",
        "long",
        str(tmp_path),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    job = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "run.safetensors").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job.poll() is None, job.communicate()[1]
        job.send_signal(signal.SIGINT)
        job.wait(timeout=20)
    finally:
        if job.poll() is None:
            job.kill()
        job.communicate()
    assert job.returncode != 0
    load_checkpoint(tmp_path / "run.safetensors")


def test_tfnn_train_under_mpiexec_speaks_once(tmp_path):
    command = [*_launcher(), sys.executable, "-m", "tfnn", "train", "--epochs", "1"]
    command += ["--metrics", "m.jsonl", "--trace", "t.json", "--eval-every", "20"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    _ok(done)
    summary = [line for line in done.stdout.splitlines() if line.startswith("accuracy")]
    assert len(summary) == 1 and summary[0].endswith("ranks 2")
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 3  # steps 20, 40, epoch end
    assert (tmp_path / "t.json").exists() and (tmp_path / "t.rank1.json").exists()
