"""The flags that describe the MLP a command trains: ``--layers`` and ``--activation``.

``--layers 784,256,128,10`` lists the sizes from input features to classes and
``--activation relu`` the activation between two Linear layers; the command builds the
model with ``tfnn.nn.mlp(args.layers, args.activation, seed=...)``.
"""

from __future__ import annotations

import argparse

from tfnn.nn.mlp import ACTIVATIONS

DEFAULT_LAYERS = "784,256,128,10"


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
