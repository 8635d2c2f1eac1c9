"""The MLP a command trains, from ``--layers 784,256,128,10`` and ``--activation relu``.

``--layers`` lists the sizes from input features to classes; each pair of neighbours is a
``Linear`` layer, with the activation between two of them and none after the last (the
loss applies the softmax). The model is initialised from ``seed``, so the same flags give
the same weights.
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

from tfnn import nn

DEFAULT_LAYERS = "784,256,128,10"

ACTIVATIONS: dict[str, type[nn.Layer]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
}


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--layers`` and ``--activation`` to ``parser``, in a group of their own.

    Example::

        add_model_arguments(parser)
        args = parser.parse_args(["--layers", "784,64,10"])
        args.layers   # [784, 64, 10]
    """
    group = parser.add_argument_group("model")
    group.add_argument(
        "--layers",
        type=parse_layers,
        default=parse_layers(DEFAULT_LAYERS),
        metavar="N,N,...",
        help=f"layer sizes from input features to classes (default {DEFAULT_LAYERS})",
    )
    group.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        default="relu",
        help="activation between linear layers (default relu)",
    )


def parse_layers(text: str) -> list[int]:
    """``"784,256,10"`` -> ``[784, 256, 10]``; argparse turns the error into a usage line.

    Example::

        parse_layers("784, 64, 10")   # [784, 64, 10]
    """
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of at least two positive layer sizes, e.g. 784,256,10"
        )
    return sizes


def build_mlp(
    sizes: list[int], activation: str = "relu", *, seed: int = 0, backend: Any = None
) -> nn.Sequential:
    """The MLP described above, initialised from ``seed`` on ``backend``.

    Example::

        model = build_mlp([784, 256, 10], "gelu", seed=1)
        len(model.layers)   # 3: Linear(784, 256), GELU(), Linear(256, 10)
    """
    layers: list[nn.Layer] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers, backend=backend, seed=seed)
