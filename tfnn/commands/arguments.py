"""The argparse types of the ``tfnn`` commands: each turns a flag's text into a checked value.

A value that does not fit raises ``argparse.ArgumentTypeError``, which argparse turns into
a usage error naming the flag. Whole numbers go through ``tfnn.errors.whole_number``, the
check the library uses too.

Example::

    parser.add_argument("--epochs", type=positive_int, default=5)
"""

from __future__ import annotations

import argparse
import math

from tfnn import errors
from tfnn.train.workers import AUTO


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (``tfnn.errors.whole_number``)."""
    try:
        return errors.whole_number(int(text), "the value")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number >= 1") from None


def seed(text: str) -> int:
    """argparse type: a whole number >= 0 (a seed)."""
    try:
        return errors.whole_number(int(text), "the seed", minimum=0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number >= 0") from None


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0 (a count, e.g. of warm-up steps)."""
    try:
        return errors.whole_number(int(text), "the count", minimum=0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number >= 0") from None


def workers(text: str) -> int | str:
    """argparse type: ``auto`` or a whole number >= 1."""
    return AUTO if text == AUTO else positive_int(text)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``nan`` and ``inf`` are refused)."""
    value = float(text)
    if not math.isfinite(value) or value <= 0.0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite number > 0")
    return value


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1)."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a number in [0, 1)")
    return value


def target(text: str) -> float:
    """argparse type: an accuracy in (0, 1]."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not an accuracy in (0, 1], e.g. 0.95")
    return value
