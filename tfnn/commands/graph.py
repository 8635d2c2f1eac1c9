"""``tfnn graph``: print a strategy's training graph as Graphviz DOT, without training.

The graph is built exactly as ``tfnn train`` builds it (``tfnn.train.graphs``), for the
MLP of ``--layers``/``--activation``, over a tiny all-zero dataset that is never read. No
parameter is allocated, so a graph of layers of any size is drawn at once.
``condition`` is the whole training loop in one graph, its condition tasks drawn as
diamonds; ``two-graph`` shows its forward and backward graphs as the two modules one step
runs in turn; ``unrolled`` spells out ``--steps`` steps of an epoch (an epoch of MNIST has
hundreds). ``sequential`` runs no graph, so it is not offered.

Example::

    $ tfnn graph --strategy condition --layers 784,64,10 | dot -Tsvg > condition.svg
"""

from __future__ import annotations

import argparse

import numpy as np

from tfnn import nn, optim
from tfnn.commands.arguments import positive_int
from tfnn.commands.model_spec import add_model_arguments
from tfnn.data import Batches
from tfnn.executor import Taskflow
from tfnn.train import History
from tfnn.train.control import Control
from tfnn.train.graphs import condition_graph, two_graphs, unrolled_graph
from tfnn.train.step import StepWork

HELP = "print a strategy's training graph as Graphviz DOT"
GRAPH_STRATEGIES = ("condition", "pipelined", "two-graph", "unrolled")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``tfnn graph``."""
    parser.add_argument(
        "--strategy", choices=GRAPH_STRATEGIES, default="condition", help="(default condition)"
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--steps", type=positive_int, default=3, help="steps drawn by unrolled (default 3)"
    )


def run(args: argparse.Namespace) -> int:
    """Print the DOT text of the graph the flags describe; return 0."""
    print(training_graph(args.strategy, args.layers, args.activation, args.steps).dump(), end="")
    return 0


def training_graph(strategy: str, layers: list[int], activation: str, steps: int) -> Taskflow:
    """The Taskflow that ``strategy`` runs to train the MLP ``layers``.

    Example::

        training_graph("condition", [784, 64, 10], "relu", 1).dump()   # 'digraph "train" {...'
    """
    return strategy_graph(strategy, untrained_work(layers, activation, steps), steps, "cpu")


def untrained_work(layers: list[int], activation: str, steps: int) -> StepWork:
    """One epoch of ``steps`` steps of the MLP ``layers``, with no parameter allocated."""
    model = nn.mlp(layers, activation, initialize=False)
    # One feature per sample: the batches only set the number of steps; they are never read.
    batches = Batches(
        np.zeros((steps, 1), np.float32), np.zeros(steps, np.int64), 1, normalize=False
    )
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    return StepWork(model, nn.SoftmaxCrossEntropy(), optimizer, batches, epochs=1)


def strategy_graph(strategy: str, work: StepWork, steps: int, device: str) -> Taskflow:
    """The graph of ``strategy`` over ``work``, its tasks on ``device`` (``unrolled``:
    ``steps`` steps); the executor tests build the graphs they place on streams here too."""
    control = Control(
        work,
        epochs=1,
        eval_every=None,
        evaluate_accuracy=None,
        target_accuracy=None,
        save=None,
        history=History(),
    )
    if strategy in ("condition", "pipelined"):
        return condition_graph(work, control, device, pipelined=strategy == "pipelined")
    if strategy == "unrolled":
        return unrolled_graph(work, control, device, range(steps))
    forward, backward = two_graphs(work, device)
    step = Taskflow("two-graph step")
    step.composed_of(forward).precede(step.composed_of(backward))
    return step
