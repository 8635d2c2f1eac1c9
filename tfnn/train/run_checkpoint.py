"""A training run's checkpoint: what ``Trainer.fit`` saves at each evaluation and resumes from.

The file (``tfnn.checkpoint``: safetensors, written atomically) holds the tensors
``model/<name>`` (parameters) and ``optimizer/<i>.<name>`` (optimizer state), and the
metadata: the position (``epoch``, ``step``), the ``history``, the settings a resumed run
must share (``model`` repr, ``batch_size``, ``seed``, the optimizer's type and
hyperparameters, the learning-rate schedule's type and settings), the optimizer's step
counts, the schedule's state (a plateau's scale and counters) and the dropout generator's
``state``.
So ``resume`` continues to bitwise the same weights as a run that was never interrupted
(numpy).

Restoring checks the settings first and changes nothing when one differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfnn.backends import Backend
from tfnn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tfnn.nn.base import Layer
from tfnn.optim.optimizer import PerParameterOptimizer
from tfnn.optim.schedules import ConstantLR
from tfnn.train.control import Control, History


@dataclass
class RunCheckpoint:
    """Save and restore the state of one fit at ``path``.

    Example::

        saved = RunCheckpoint(path, model, optimizer, backend, "condition", 128, 0, rng)
        position, history = saved.restore()     # before training, to resume
        saved.save(control)                     # at each evaluation
    """

    path: Path
    model: Layer
    optimizer: PerParameterOptimizer
    backend: Backend
    strategy: str
    batch_size: int
    seed: int
    dropout_rng: Any

    def save(self, control: Control) -> None:
        """Write the run's state at ``control``'s position."""
        tensors = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        arrays, optimizer_meta = self.optimizer.state_dict()
        tensors.update({f"optimizer/{k}": self.backend.to_numpy(v) for k, v in arrays.items()})
        save_checkpoint(
            self.path,
            tensors,
            {
                "epoch": control.epoch,
                "step": control.step,
                "history": control.history.to_dict(),
                "strategy": self.strategy,
                "model": repr(self.model),
                "batch_size": self.batch_size,
                "seed": self.seed,
                "optimizer": optimizer_meta,
                "schedule": self.optimizer.schedule.state_dict(),
                "dropout_rng": getattr(self.dropout_rng, "state", None),
            },
        )

    def restore(self) -> tuple[tuple[int, int], History]:
        """Load the state into the model, optimizer and generator; return (position, history)."""
        tensors, meta = load_checkpoint(self.path)
        self._check_settings(meta)
        self.model.load_state_dict(
            {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
        )
        self.optimizer.load_state_dict(
            {k[len("optimizer/") :]: v for k, v in tensors.items() if k.startswith("optimizer/")},
            meta["optimizer"],
        )
        self.optimizer.schedule.load_state_dict(_saved_schedule(meta))
        if meta.get("dropout_rng") is not None:
            self.dropout_rng.state = meta["dropout_rng"]
        return (meta["epoch"], meta["step"]), History.from_dict(meta["history"])

    def _check_settings(self, meta: dict[str, Any]) -> None:
        _, optimizer_meta = self.optimizer.state_dict()
        expected = {
            "model": repr(self.model),
            "batch_size": self.batch_size,
            "seed": self.seed,
            # As JSON gives it back (tuples become lists), to compare like with like.
            "optimizer": json.loads(
                json.dumps(
                    {
                        "type": optimizer_meta["type"],
                        "hyperparameters": optimizer_meta["hyperparameters"],
                    }
                )
            ),
        }
        schedule = self.optimizer.schedule.state_dict()
        expected["schedule"] = json.loads(json.dumps([schedule["type"], schedule["config"]]))
        saved = dict(meta)
        saved["optimizer"] = {
            key: meta.get("optimizer", {}).get(key) for key in ("type", "hyperparameters")
        }
        saved["schedule"] = [_saved_schedule(meta)["type"], _saved_schedule(meta)["config"]]
        for key, value in expected.items():
            if saved.get(key) != value:
                raise CheckpointError(
                    f"{self.path} was written with {key}={saved.get(key)!r}, but this run has "
                    f"{key}={value!r}; resume with the same settings or pass another "
                    "--checkpoint path"
                )


def _saved_schedule(meta: dict[str, Any]) -> dict[str, Any]:
    # Checkpoints written before schedules existed ran at a constant rate.
    return meta.get("schedule") or ConstantLR().state_dict()
