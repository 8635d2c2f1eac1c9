"""What a training run shows while it runs: a progress bar, evaluation lines, a metrics file.

The bar (tqdm, on stderr, only on a terminal) advances per step and shows the latest loss,
accuracy and learning rate. Each evaluation also prints one line on stdout, so logs and
pipes keep the history, and appends one JSON object to the metrics file when there is one,
with the names Keras and Lightning users look for: ``epoch``, ``step``, ``train_loss``,
``test_accuracy`` (null without test data), ``lr`` (the learning rate of the last step),
``samples_per_second`` and ``time`` (wall clock, seconds since the Unix epoch). On resume
the bar starts at zero and jumps to the true step at the first evaluation, since the
position is known only once the Trainer has read the checkpoint.
"""

from __future__ import annotations

import json
import os
import sys
import time
from types import TracebackType
from typing import Any

from tqdm import tqdm


class Progress:
    """Callbacks for ``Trainer.fit``'s ``on_step`` and ``on_evaluation``.

    Example::

        with Progress(total_steps=235, metrics="m.jsonl") as progress:
            trainer.fit(x, y, on_step=progress.step, on_evaluation=progress.evaluation)
    """

    def __init__(self, total_steps: int, metrics: str | os.PathLike[str] | None = None) -> None:
        # Opened first: an unwritable metrics path fails before any training time is spent.
        self.metrics = open(metrics, "a", encoding="utf-8") if metrics is not None else None  # noqa: SIM115
        self.bar = tqdm(total=total_steps, unit="step", file=sys.stderr, disable=None, leave=False)
        self.evaluations = 0

    def step(self, n: int) -> None:
        self.bar.update(n)

    def evaluation(self, record: dict[str, Any]) -> None:
        self.evaluations += 1
        self.bar.n = record["step"]
        self.bar.set_postfix(
            loss=f"{record['loss']:.4f}", accuracy=_accuracy(record["accuracy"]), lr=_lr(record)
        )
        self.bar.write(format_evaluation(record), file=sys.stdout)
        if self.metrics is not None:
            self.metrics.write(json.dumps(metrics_record(record)) + "\n")
            # A killed run keeps every evaluation it reported.
            self.metrics.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.bar.close()
        if self.metrics is not None:
            self.metrics.close()


def metrics_record(record: dict[str, Any]) -> dict[str, Any]:
    """The metrics file's JSON object for one evaluation record of ``Trainer.fit``.

    Example::

        metrics_record({"epoch": 1, "step": 47, "loss": 0.41, "accuracy": 0.91,
                        "lr": 0.05, "samples_per_second": 52_300.0})
        # {'epoch': 1, 'step': 47, 'train_loss': 0.41, 'test_accuracy': 0.91, 'lr': 0.05,
        #  'samples_per_second': 52300.0, 'time': 1764409200.0}
    """
    return {
        "epoch": record["epoch"],
        "step": record["step"],
        "train_loss": record["loss"],
        "test_accuracy": record["accuracy"],
        "lr": record.get("lr"),
        "samples_per_second": record["samples_per_second"],
        "time": time.time(),
    }


def format_evaluation(record: dict[str, Any]) -> str:
    """One evaluation as one line.

    Example::

        format_evaluation({"epoch": 1, "step": 47, "loss": 0.41234, "accuracy": 0.9123,
                           "lr": 0.0488, "samples_per_second": 52_300.0})
        # 'epoch 1  step 47  loss 0.4123  accuracy 0.9123  lr 0.0488  52k samples/s'
    """
    return (
        f"epoch {record['epoch']}  step {record['step']}  loss {record['loss']:.4f}  "
        f"accuracy {_accuracy(record['accuracy'])}  lr {_lr(record)}  "
        f"{format_rate(record['samples_per_second'])} samples/s"
    )


def format_rate(per_second: float) -> str:
    """``52300.0`` -> ``"52k"``, ``940.0`` -> ``"940"``."""
    return f"{per_second / 1000:.0f}k" if per_second >= 10_000 else f"{per_second:.0f}"


def _lr(record: dict[str, Any]) -> str:
    # Three significant digits: a decayed rate (3.2e-05) stays readable.
    return "-" if record.get("lr") is None else f"{record['lr']:.3g}"


def _accuracy(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
