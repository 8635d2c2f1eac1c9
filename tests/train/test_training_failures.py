"""Training that goes wrong: divergence, a task that raises. The last checkpoint survives.

A checkpoint is written at every evaluation; when training stops with an error, the file
from the last good evaluation must be left as it was (same bytes), with no temporary
file beside it.
"""

from __future__ import annotations

import threading

import pytest
from threadpoolctl import threadpool_limits

from tfnn import nn, optim
from tfnn.backends import get_backend
from tfnn.checkpoint import load_checkpoint
from tfnn.executor import Executor, TaskError
from tfnn.executor.simulated import SimulatedDevice
from tfnn.train import STRATEGIES, Trainer, TrainingDiverged

from .helpers import (
    ALL_STRATEGIES,
    BATCH,
    BLAS_THREADS,
    EXECUTOR_STRATEGIES,
    SEED,
    fit,
    mnist,
    step_pieces,
    trainer,
)


class NaNLossAfter(nn.SoftmaxCrossEntropy):
    """Cross-entropy whose value is NaN from call ``good + 1`` on (gradients stay finite)."""

    def __init__(self, good: int) -> None:
        self.good = good
        self.calls = 0

    def forward(self, logits, labels):
        value, ctx = super().forward(logits, labels)
        self.calls += 1
        return (value * float("nan") if self.calls > self.good else value), ctx


class FailingReLU(nn.ReLU):
    """ReLU whose ``fail_at``-th training forward raises (evaluation calls do not count)."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.calls = 0

    def forward(self, x, *, training=False, rng=None):
        if training:
            self.calls += 1
            if self.calls == self.fail_at:
                raise RuntimeError(f"simulated failure in training forward call {self.calls}")
        return super().forward(x, training=training, rng=rng)


class FailingLinear(nn.Linear):
    """Linear whose ``fail_at``-th weight gradient raises."""

    def __init__(self, *args, fail_at: int) -> None:
        super().__init__(*args)
        self.fail_at = fail_at
        self.calls = 0

    def backward_weight(self, ctx, dy):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError(f"simulated failure in weight gradient call {self.calls}")
        return super().backward_weight(ctx, dy)


def relu_mlp(middle=None):
    model = nn.Sequential(nn.Linear(784, 32), middle or nn.ReLU(), nn.Linear(32, 10), seed=3)
    return model, optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


class CheckpointWatch:
    """Remembers the checkpoint's bytes after each evaluation (``on_evaluation`` runs
    after the checkpoint is written)."""

    def __init__(self, path) -> None:
        self.path = path
        self.saved: list[bytes] = []

    def __call__(self, info) -> None:
        self.saved.append(self.path.read_bytes())

    def assert_intact(self, evaluations: int) -> None:
        assert len(self.saved) == evaluations
        assert self.path.read_bytes() == self.saved[-1]
        assert sorted(p.name for p in self.path.parent.iterdir()) == [self.path.name]
        _, meta = load_checkpoint(self.path)
        assert meta["history"]["steps"] == evaluations


def no_worker_threads_left() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("tfnn-worker")]


def fit_until_error(strategy, model, optimizer, tmp_path, loss=None, **kwargs):
    watch = CheckpointWatch(tmp_path / "ckpt.safetensors")
    kwargs = {
        "epochs": 3,
        "batch_size": BATCH,
        "seed": SEED,
        "eval_every": 1,
        "checkpoint": watch.path,
        "on_evaluation": watch,
        **kwargs,
    }
    with pytest.raises(Exception) as raised:
        trainer(model, optimizer, strategy, loss=loss).fit(*mnist(), **kwargs)
    assert no_worker_threads_left()
    return raised.value, watch


# -- divergence ---------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_nan_loss_raises_training_diverged(strategy, tmp_path):
    error, _ = fit_until_error(strategy, *relu_mlp(), tmp_path, loss=NaNLossAfter(good=2))
    assert isinstance(error, TrainingDiverged), f"{type(error).__name__}: {error}"
    assert "nan" in str(error) and "lower the learning rate" in str(error)


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_divergence_keeps_the_last_good_checkpoint(strategy, tmp_path):
    # Steps 1 and 2 are good and checkpointed; step 3's loss is NaN.
    error, watch = fit_until_error(strategy, *relu_mlp(), tmp_path, loss=NaNLossAfter(good=2))
    assert isinstance(error, TrainingDiverged) or isinstance(error.__cause__, TrainingDiverged)
    watch.assert_intact(evaluations=2)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_huge_learning_rate_raises_training_diverged(strategy, tmp_path):
    # The loss overflows to inf/NaN within a few steps; numpy warns on the way there.
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10), seed=3)
    optimizer = optim.SGD(model.parameters(), lr=1e10, momentum=0.9)
    watch = CheckpointWatch(tmp_path / "ckpt.safetensors")
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        trainer(model, optimizer, strategy).fit(
            *mnist(), epochs=3, seed=SEED, checkpoint=watch.path, on_evaluation=watch
        )
    assert no_worker_threads_left()


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_huge_learning_rate_keeps_the_last_good_checkpoint(strategy, tmp_path):
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10), seed=3)
    optimizer = optim.SGD(model.parameters(), lr=1e10, momentum=0.9)
    error, watch = fit_until_error(strategy, model, optimizer, tmp_path)
    assert isinstance(error, TrainingDiverged) or isinstance(error.__cause__, TrainingDiverged)
    assert watch.saved, "the first step's loss is finite, so one checkpoint was written"
    watch.assert_intact(evaluations=len(watch.saved))
    tensors, _ = load_checkpoint(watch.path)
    assert all(bool((abs(t) < float("inf")).all()) for t in tensors.values())


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_an_exploding_finite_loss_is_divergence_and_never_saved(strategy, tmp_path):
    # Adam at lr 1e6 keeps the loss finite (about 1e19), far above its first value.
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10), seed=3)
    optimizer = optim.Adam(model.parameters(), lr=1e6)
    error, watch = fit_until_error(strategy, model, optimizer, tmp_path)
    assert isinstance(error, TrainingDiverged), f"{type(error).__name__}: {error}"
    assert "exploded" in str(error) and "lower the learning rate" in str(error)
    assert "--" not in str(error)
    assert watch.saved, "the first step's loss is its own first value: saved"
    watch.assert_intact(evaluations=len(watch.saved))
    _, meta = load_checkpoint(watch.path)
    first = meta["history"]["initial_loss"]
    assert all(loss < 1e3 * first for loss in meta["history"]["loss"])


# -- a task that raises -------------------------------------------------------------------


@pytest.mark.parametrize("strategy", EXECUTOR_STRATEGIES)
def test_a_failing_task_raises_task_error_naming_it(strategy, tmp_path):
    error, watch = fit_until_error(strategy, *relu_mlp(FailingReLU(fail_at=3)), tmp_path)
    assert isinstance(error, TaskError), f"{type(error).__name__}: {error}"
    # The unrolled graph names each step's copy of a task: F1@0, F1@1, F1@2, ...
    assert error.task.split("@")[0] == "F1"
    assert "F1" in str(error) and "simulated failure" in str(error)
    assert isinstance(error.__cause__, RuntimeError)
    watch.assert_intact(evaluations=2)


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_a_failing_weight_gradient_is_reported_and_the_checkpoint_kept(strategy, tmp_path):
    # A backward task, which a graph may run later than the step it belongs to.
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), FailingLinear(32, 10, fail_at=2), seed=3)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    error, watch = fit_until_error(strategy, model, optimizer, tmp_path)
    if strategy == "sequential":
        assert type(error) is RuntimeError
    else:
        assert isinstance(error, TaskError), f"{type(error).__name__}: {error}"
        assert error.task.split("@")[0].rstrip("'") == "BW2"
        assert isinstance(error.__cause__, RuntimeError)
    assert "simulated failure in weight gradient call 2" in str(error)
    watch.assert_intact(evaluations=1)


def test_sequential_raises_the_original_error(tmp_path):
    error, watch = fit_until_error("sequential", *relu_mlp(FailingReLU(fail_at=3)), tmp_path)
    assert type(error) is RuntimeError
    assert "simulated failure in training forward call 3" in str(error)
    watch.assert_intact(evaluations=2)


@pytest.mark.parametrize("strategy", EXECUTOR_STRATEGIES)
def test_a_failing_task_on_an_asynchronous_device_is_named(strategy):
    model, optimizer = relu_mlp(FailingReLU(fail_at=3))
    work, control = step_pieces(model, optimizer, eval_every=1)
    with SimulatedDevice(streams=4, max_delay=0.0005) as device:
        executor = Executor(workers=2, devices={"sim:0": device})
        try:
            with pytest.raises(TaskError) as raised:
                run_strategy_on(strategy, work, control, executor)
        finally:
            executor.shutdown()
    assert raised.value.task.split("@")[0] == "F1"
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert control.history.steps == 2


def run_strategy_on(strategy, work, control, executor):
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        STRATEGIES[strategy](work, control, executor, "sim:0")


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("strategy", EXECUTOR_STRATEGIES)
def test_ctrl_c_inside_the_graph_stops_training_as_an_interrupt(strategy, workers):
    # With one worker the graph runs on the calling thread, where Ctrl-C lands inside a
    # task; the Trainer must still raise KeyboardInterrupt, not a TaskError.
    def interrupt(step):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit("sgd-mlp", strategy, workers, on_step=interrupt)
    assert not [t for t in threading.enumerate() if t.name.startswith("tfnn-worker")]


@pytest.mark.parametrize("strategy", EXECUTOR_STRATEGIES)
def test_one_worker_runs_the_graph_on_the_calling_thread(strategy):
    threads = set()
    fit("sgd-mlp", strategy, 1, on_step=lambda step: threads.add(threading.get_ident()))
    assert threads == {threading.get_ident()}


@pytest.mark.parametrize("workers", [1, 2])
def test_torch_threads_are_capped_on_every_task_thread_and_restored(workers):
    torch = pytest.importorskip("torch")
    backend = get_backend("torch")
    model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10), backend=backend)
    optimizer = optim.SGD(model.parameters(), lr=0.05)
    before = torch.get_num_threads()
    seen = set()
    x, y = mnist()
    trainer_ = Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        optimizer,
        workers=workers,
        backend=backend,
        blas_threads=1,
    )
    trainer_.fit(x, y, 1, BATCH, on_step=lambda step: seen.add(torch.get_num_threads()))
    assert seen == {1}
    assert torch.get_num_threads() == before
