"""Checkpoints: named numpy tensors plus JSON metadata in one safetensors file, written atomically.

Format: a safetensors file whose header metadata (str -> str) holds ``format`` =
``"tfnn-checkpoint"``, ``version`` = ``"1"`` and ``metadata`` = the caller's dict as JSON
(training state: epoch, step, RNG state, model spec, optimizer settings...). A safetensors
file without the tag is foreign and refused.

Writing: the file is serialised in memory first (so a bad tensor or metadata fails before
the disk is touched), written to a temporary file in the same directory, flushed, fsynced,
and moved over the target with ``os.replace``; the directory is then fsynced. A crash or
error at any point leaves the previous checkpoint intact and no temporary file behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from tfnn.errors import UserError
from tfnn.fsync import written_atomically

FORMAT = "tfnn-checkpoint"
VERSION = 1
MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header


class CheckpointError(UserError, ValueError):
    """A checkpoint cannot be read or written; the message names the file and says what to do."""


def save_checkpoint(
    path: str | os.PathLike[str], tensors: dict[str, np.ndarray], metadata: dict[str, Any]
) -> None:
    """Atomically write ``tensors`` and JSON-serialisable ``metadata`` to ``path``.

    numpy scalars in ``metadata`` are stored as Python numbers; tuples come back as lists.
    Missing parent directories are created.

    Example::

        rng = np.random.default_rng(0)
        save_checkpoint(
            "run/ckpt.safetensors",
            {"fc1.weight": w1, "fc1.bias": b1},
            {"epoch": 3, "step": 120, "rng": rng.bit_generator.state},
        )
    """
    path = Path(path)
    data = _serialise(path, tensors, metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with written_atomically(path) as (f, _):
            f.write(data)
    except OSError as e:
        # The temporary file is gone by now: name the checkpoint the user asked for.
        if e.filename is not None and Path(e.filename).name.startswith(f".{path.name}."):
            raise type(e)(e.errno, e.strerror, str(path)) from e
        raise


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint written by ``save_checkpoint``: ``(tensors, metadata)``.

    Example::

        tensors, metadata = load_checkpoint("run/ckpt.safetensors")
        rng = np.random.default_rng()
        rng.bit_generator.state = metadata["rng"]
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        tensors = safetensors.numpy.load(data)
    except safetensors.SafetensorError as e:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({e}); it may be truncated or corrupt. "
            "Resume from an earlier checkpoint or start afresh."
        ) from e
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_size])
    tags = header.get("__metadata__") or {}
    if tags.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a tfnn checkpoint (no format tag "
            f"{FORMAT!r}); pass a checkpoint written by tfnn"
        )
    version = tags.get("version", "")
    if not version.isdigit() or int(version) > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}, but this tfnn reads up to "
            f"{VERSION}; upgrade tfnn to load it"
        )
    try:
        metadata = json.loads(tags["metadata"])
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"{path} has a tfnn tag but its metadata is missing or not JSON ({e}); "
            "the file is corrupt: resume from an earlier checkpoint"
        ) from e
    return tensors, metadata


def is_checkpoint(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a safetensors file with tfnn's format tag (reads the header only).

    Example::

        is_checkpoint("run/ckpt.safetensors")   # True
        is_checkpoint("train-images-idx3-ubyte.gz")   # False
    """
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if size > MAX_HEADER:
                return False
            header = json.loads(f.read(size))
    except (OSError, ValueError):
        return False
    tags = header.get("__metadata__") if isinstance(header, dict) else None
    return isinstance(tags, dict) and tags.get("format") == FORMAT


def _serialise(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, Any]) -> bytes:
    for name, array in tensors.items():
        if not isinstance(name, str) or not isinstance(array, np.ndarray):
            raise TypeError(
                f"checkpoint {path}: tensor {name!r} is a {type(array).__name__}; "
                "pass a dict of str -> numpy array (convert with backend.to_numpy)"
            )
    if not isinstance(metadata, dict):
        raise TypeError(f"checkpoint {path}: metadata must be a dict, not {type(metadata)}")
    try:
        text = json.dumps(metadata, default=_json_default)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"checkpoint {path}: metadata is not JSON-serialisable ({e}); "
            "store arrays as tensors and keep metadata to numbers, strings, lists and dicts"
        ) from e
    # safetensors copies raw memory: a strided view would be written as the wrong values.
    contiguous = {
        name: array if array.flags.c_contiguous else np.ascontiguousarray(array)
        for name, array in tensors.items()
    }
    try:
        return safetensors.numpy.save(
            contiguous, {"format": FORMAT, "version": str(VERSION), "metadata": text}
        )
    except safetensors.SafetensorError as e:
        raise TypeError(f"checkpoint {path}: cannot store the tensors ({e})") from e


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")
