"""A training run's checkpoint: what ``Trainer.fit`` saves at each evaluation and resumes from.

The file (``tfnn.checkpoint``: safetensors, written atomically) holds the tensors
``model/<name>`` (parameters) and ``optimizer/<i>.<name>`` (optimizer state), and the
metadata: the position (``epoch``, ``step``), the ``history``, the settings a resumed run
must share (``model`` repr, ``batch_size``, ``seed``, the optimizer's type and
hyperparameters, the learning-rate schedule's type and settings, and the ``data``
fingerprint: split sizes and a hash), the optimizer's step counts, the schedule's state (a
plateau's scale and counters) and the dropout generator's ``state``: JSON when the backend
gives a dict (numpy), else the tensor ``rng/dropout`` (torch's and cupy's byte states). So
``resume`` continues to bitwise the same weights as a run that was never interrupted
(numpy).

Restoring checks the settings first and changes nothing when one differs; a file whose
metadata was edited by hand or is malformed is a ``CheckpointError``, never a KeyError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np

from tfnn.backends import Backend, Generator
from tfnn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tfnn.nn.base import Layer
from tfnn.optim.optimizer import PerParameterOptimizer
from tfnn.optim.schedules import ConstantLR
from tfnn.train.control import Control, History
from tfnn.train.inputs import to_host

RNG_TENSOR = "rng/dropout"


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
    dropout_rng: Generator
    data: dict[str, Any]
    allow_other_data: bool = False

    def save(self, control: Control) -> None:
        """Write the run's state at ``control``'s position."""
        tensors = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        arrays, optimizer_meta = self.optimizer.state_dict()
        tensors.update({f"optimizer/{k}": self.backend.to_numpy(v) for k, v in arrays.items()})
        rng_state = getattr(self.dropout_rng, "state", None)
        if rng_state is not None and not isinstance(rng_state, Mapping):
            tensors[RNG_TENSOR] = to_host(rng_state)
            rng_state = {"tensor": RNG_TENSOR}
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
                "dropout_rng": rng_state,
                "data": self.data,
            },
        )

    def restore(self) -> tuple[tuple[int, int], History]:
        """Load the state into the model, optimizer and generator; return (position, history)."""
        tensors, meta = load_checkpoint(self.path)
        self._check_settings(meta)
        try:
            position = (_count(meta["epoch"]), _count(meta["step"]))
            history = History.from_dict(meta["history"])
            rng_state = _rng_state(meta.get("dropout_rng"), tensors, self.dropout_rng)
            self.optimizer.schedule.load_state_dict(_saved_schedule(meta))
            self.optimizer.load_state_dict(
                {
                    k[len("optimizer/") :]: v
                    for k, v in tensors.items()
                    if k.startswith("optimizer/")
                },
                meta["optimizer"],
            )
            self.model.load_state_dict(
                {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
            )
            if rng_state is not None:
                # Generators that have a state (numpy, torch, cupy) take it back whole.
                self.dropout_rng.state = rng_state  # type: ignore[attr-defined]
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise CheckpointError(
                f"{self.path} has malformed metadata or tensors ({type(e).__name__}: {e}); it "
                "was edited or is corrupt: resume from another checkpoint or start afresh"
            ) from e
        return position, history

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
        saved = dict(meta)
        saved["optimizer"] = {
            key: meta.get("optimizer", {}).get(key) for key in ("type", "hyperparameters")
        }
        schedule = self.optimizer.schedule.state_dict()
        expected["schedule"] = json.loads(json.dumps([schedule["type"], schedule["config"]]))
        saved_schedule = _saved_schedule(meta)
        if isinstance(saved_schedule, Mapping):
            saved["schedule"] = [saved_schedule.get("type"), saved_schedule.get("config")]
        if "data" in meta and not self.allow_other_data:
            # Older checkpoints have no fingerprint: nothing to compare.
            expected["data"] = self.data
        for key, value in expected.items():
            if key == "data" and saved.get(key) != value:
                raise CheckpointError(
                    f"{self.path} was written for other data ({_describe(saved.get(key))}) "
                    f"than this run's ({_describe(value)}); resume on the same data, or "
                    "allow other data explicitly (allow_other_data=True)"
                )
            if saved.get(key) != value:
                raise CheckpointError(
                    f"{self.path} was written with {key}={saved.get(key)!r}, but this run has "
                    f"{key}={value!r}; resume with the same settings or pass another "
                    "checkpoint path"
                )


def _saved_schedule(meta: Mapping[str, Any]) -> Any:
    # Checkpoints written before schedules existed ran at a constant rate.
    return meta.get("schedule") or ConstantLR().state_dict()


def _under(prefix: str, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"a position must be a whole number >= 0, not {value!r}")
    return value


def _rng_state(saved: Any, tensors: Mapping[str, np.ndarray], rng: Any) -> Any:
    """The generator state to set: JSON as saved, or the saved tensor as the backend's array."""
    if saved is None:
        return None
    if isinstance(saved, Mapping) and set(saved) == {"tensor"}:
        current = rng.state
        return array_api_compat.array_namespace(current).asarray(tensors[saved["tensor"]])
    return saved


def _describe(data: Any) -> str:
    if not isinstance(data, Mapping):
        return repr(data)
    return (
        f"{data.get('train')} training and {data.get('eval')} evaluation samples, "
        f"hash {str(data.get('hash'))[:12]}"
    )
