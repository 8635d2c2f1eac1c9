"""What ``tfnn train`` checks before it trains: the flags, the output paths, the model.

``check_flags`` refuses combinations that would do nothing or something else than asked
(an empty path, ``--resume`` without a checkpoint, ``--momentum`` for Adam, an existing
checkpoint without ``--resume``); ``check_outputs`` checks ``--checkpoint``, ``--trace``
and ``--metrics`` with ``tfnn.train.outputs`` against each other and the data files;
``check_model`` compares ``--layers`` with the data and the free memory of the device, so
a model too big for it is one line, not a MemoryError (or the kernel's OOM killer).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from tfnn.backends import Backend
from tfnn.commands import CommandError
from tfnn.train.outputs import CHECKPOINT, METRICS, RESUMED, TRACE, OutputKind, check_outputs


def check_flags(args: argparse.Namespace) -> None:
    for flag in ("checkpoint", "trace", "metrics", "data_dir"):
        if getattr(args, flag) == "":
            raise CommandError(f"--{flag.replace('_', '-')} '' names no path; give a path")
    if args.resume and args.checkpoint is None:
        raise CommandError("--resume needs --checkpoint PATH, the checkpoint to continue from")
    if args.allow_other_data and not args.resume:
        raise CommandError("--allow-other-data applies to --resume only")
    if args.checkpoint is not None and not args.resume and Path(args.checkpoint).exists():
        raise CommandError(
            f"{args.checkpoint} exists; pass --resume to continue from it, or another "
            "--checkpoint path to start afresh (the file is left as it is)"
        )
    if args.optimizer != "sgd" and args.momentum is not None:
        raise CommandError(
            f"--momentum applies to sgd; {args.optimizer} has no momentum setting: drop "
            "--momentum or use --optimizer sgd"
        )


def check_output_flags(args: argparse.Namespace, inputs: list[Path]) -> None:
    outputs: dict[str, tuple[str, OutputKind]] = {}
    if args.checkpoint is not None:
        outputs["--checkpoint"] = (args.checkpoint, RESUMED if args.resume else CHECKPOINT)
    if args.trace is not None:
        outputs["--trace"] = (args.trace, TRACE)
    if args.metrics is not None:
        outputs["--metrics"] = (args.metrics, METRICS)
    if args.trace is not None and args.strategy == "sequential":
        raise CommandError(
            "--strategy sequential runs no task graph, so --trace would be empty; "
            "trace another strategy"
        )
    check_outputs(outputs, inputs)


def check_model(
    layers: list[int], x: np.ndarray, y: np.ndarray, yt: np.ndarray, backend: Backend
) -> None:
    features = int(np.prod(x.shape[1:]))
    if layers[0] != features:
        raise CommandError(
            f"the first layer takes {layers[0]} features but each image has {features} "
            f"({'x'.join(map(str, x.shape[1:]))}); start --layers with {features} "
            f"(e.g. --layers {features},256,10)"
        )
    classes = int(max(y.max(), yt.max())) + 1
    if layers[-1] < classes:
        raise CommandError(
            f"the last layer has {layers[-1]} outputs but the labels have {classes} classes; "
            f"end --layers with {classes}"
        )
    _check_memory(layers, backend)


def _check_memory(layers: list[int], backend: Backend) -> None:
    weights = sum(a * b + b for a, b in itertools.pairwise(layers))
    # float32 weights, their gradients and the optimizer's state (Adam: two arrays).
    needed = 4 * 4 * weights
    free = _free_memory(backend)
    if free is not None and needed > free:
        raise CommandError(
            f"--layers {','.join(map(str, layers))} has {weights:,} parameters, which need "
            f"about {needed / 2**30:.1f} GiB with their gradients and optimizer state, but "
            f"{backend.device} has {free / 2**30:.1f} GiB free; use smaller layers"
        )


def _free_memory(backend: Backend) -> int | None:
    info = backend.memory_info()
    if info is not None:
        return int(info[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
