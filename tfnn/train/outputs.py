"""Files a run writes, checked before any training: never a file that is not their own.

``check_outputs`` takes the run's output paths, each with its label (``checkpoint``,
``trace``; the command line passes its flags) and its ``OutputKind``, and the paths the
run reads. Before anything is trained it refuses, naming the path as given:

- an empty path or a folder;
- two outputs at the same file, or an output at an input file;
- a folder that does not exist or cannot be written;
- an existing file that is not of the output's own kind (a checkpoint path holding
  MNIST data, a trace path holding a checkpoint): it is never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from tfnn.checkpoint import is_checkpoint
from tfnn.errors import InvalidArgument


class OutputKind(NamedTuple):
    """What an output file is: its name for messages and a test for an existing file."""

    what: str
    recognise: Callable[[Path], bool]


def _starts_with(prefixes: tuple[bytes, ...]) -> Callable[[Path], bool]:
    def recognise(path: Path) -> bool:
        with open(path, "rb") as f:
            head = f.read(64).lstrip()
        return not head or head.startswith(prefixes)

    return recognise


CHECKPOINT = OutputKind("a tfnn checkpoint", is_checkpoint)
RESUMED = OutputKind("a tfnn checkpoint", lambda path: True)
"""A checkpoint to resume from: loading it first says what is wrong with it."""
TRACE = OutputKind("a JSON trace", _starts_with((b'{"traceEvents"',)))
METRICS = OutputKind("a JSON-lines metrics file", _starts_with((b"{",)))


def check_outputs(
    outputs: Mapping[str, tuple[str | os.PathLike[str], OutputKind]],
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Refuse outputs that would destroy a file (see the module docstring).

    ``outputs`` maps a label to ``(path, kind)``. An existing file of the output's kind
    passes: whether to resume from it, append to it or replace it is the caller's choice.

    Example::

        check_outputs({"checkpoint": ("run.safetensors", CHECKPOINT),
                       "trace": ("run.json", TRACE)}, inputs=["data/train-images.gz"])
    """
    seen: dict[str, str] = {}
    for label, (given, _) in outputs.items():
        path = Path(given)
        if not str(given) or path.is_dir():
            raise InvalidArgument(f"{label} {str(given)!r} is not a file path; name a file")
        key = os.path.realpath(path)
        if key in seen:
            raise InvalidArgument(
                f"{label} {given} is the same file as {seen[key]}; give each output its own path"
            )
        seen[key] = f"{label} {given}"
        _check_folder(label, path)
    for given in inputs:
        other = seen.get(os.path.realpath(given))
        if other is not None:
            raise InvalidArgument(
                f"{other} is an input of this run ({given}); writing it would destroy it: "
                "pass another path"
            )
    for label, (given, kind) in outputs.items():
        path = Path(given)
        if path.exists() and not kind.recognise(path):
            raise InvalidArgument(
                f"{label} {given} exists and is not {kind.what}; it is left as it is: pass "
                "another path, or move the file away first"
            )


def _check_folder(label: str, path: Path) -> None:
    folder = path.parent
    if not folder.is_dir():
        raise InvalidArgument(
            f"{label} {path}: the folder {folder} does not exist; create it or pass another path"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidArgument(f"{label} {path}: the folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise InvalidArgument(f"{label} {path} is not writable")
