"""The work of one training step, cut into the pieces a training graph schedules.

``StepWork`` holds the model, loss, optimizer and batches of one ``fit`` and the
buffers one step passes between its pieces. Every strategy (``sequential``,
``two-graph``, ``condition``, ``pipelined``, ``unrolled``) calls exactly these methods
with the same data flow, which is why all of them give bitwise-identical weights on numpy.

Pieces and what they read -> write (layer ``i`` of ``L``; ``acts[i]`` is layer ``i``'s
input, ``dys[i]`` the gradient at its output):

- ``prefetch()``            batches at ``cursor`` -> ``next``   (the following step's batch)
- ``start()``               ``next`` -> ``acts[0]``, ``labels``
- ``forward(i)``            ``acts[i]``, parameters -> ``acts[i+1]``, ``ctx[i]``
- ``loss()``                ``acts[L]``, ``labels`` -> ``dys[L-1]``, ``loss_sum`` (and
  ``first_step_loss``, the first value, which divergence is measured against)
- ``backward_input(i)``     ``ctx[i]``, ``dys[i]`` -> ``dys[i-1]``           (i >= 1)
- ``backward_weight(i)``    ``ctx[i]``, ``dys[i]`` -> the layer's ``Parameter.grad``
- ``update(i)``             grads -> the layer's ``Parameter.value`` (and optimizer state)

Data hazard: ``update(i)`` may run while ``backward_input(i)`` still computes
``dy @ W``. It is safe by a functional update, not by an edge: a Linear's forward context
holds the weight array forward used, and the optimizer rebinds ``Parameter.value`` to a
new array instead of writing into the old one. The next step's ``forward(i)`` reads the
new value; the graph orders it after ``update(i)`` through the step's condition task.

Only ``prefetch`` touches ``next`` and only ``start`` moves it, and the graphs order
``prefetch`` of step k+1 after ``start`` of step k and before ``start`` of step k+1.

Data parallelism (``tfnn.parallel``): ``batches`` may be one rank's ``ShardedBatches``;
``prefetch`` then also takes the rank's ``share`` of the global batch, and ``loss``
weights the loss and its gradient by it, so the sum over ranks is the global batch's
mean. ``reducer`` (set by ``DataParallel.attach``) makes the graphs add allreduce tasks
between each weight gradient and its update (on ``reduce_device``; ``reduce_split``: a
start and a wait task), and ``reduce_values`` sums the loss over the ranks before anyone
reads it.

Deferral (the ``pipelined`` graph): ``loss(deferred_layers)`` marks layers whose weight
gradient and update run in the *next* step, through ``deferred_weight(i)`` and
``deferred_update(i)``, before that step's ``forward(i)``. Their inputs stay valid until
then: ``ctx[i]`` is next written by ``forward(i)`` and ``dys[i]`` later still, both
ordered after the update. The marks are made by a device task, so on an asynchronous
device they are set and cleared in device order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfnn.backends import Generator
from tfnn.data import Batches
from tfnn.nn.base import Layer
from tfnn.nn.loss import Loss
from tfnn.nn.sequential import Sequential
from tfnn.optim.optimizer import PerParameterOptimizer


class StepWork:
    """The pieces of a training step over shared buffers (see the module docstring).

    Example::

        work = StepWork(model, loss, optimizer, batches, epochs=2)
        work.prefetch(); work.start()
        for i in range(work.depth): work.forward(i)
        work.loss()
        for i in reversed(range(work.depth)):
            if i: work.backward_input(i)
            work.backward_weight(i); work.update(i)
    """

    def __init__(
        self,
        model: Layer,
        loss: Loss,
        optimizer: PerParameterOptimizer,
        batches: Batches,
        *,
        epochs: int,
        start_epoch: int = 0,
        start_step: int = 0,
        dropout_rng: Generator | None = None,
    ) -> None:
        self.layers: list[Layer] = model.layers if isinstance(model, Sequential) else [model]
        self.depth = len(self.layers)
        self.indices = (
            [model.parameter_indices(i) for i in range(self.depth)]
            if isinstance(model, Sequential)
            else [range(len(model.parameters()))]
        )
        self.trainable = [i for i in range(self.depth) if len(self.indices[i])]
        self.loss_fn = loss
        self.optimizer = optimizer
        self.params = optimizer.params
        self.batches = batches
        self.steps_per_epoch = len(batches)
        self.epochs = epochs
        self.dropout_rng = dropout_rng
        self.cursor = (start_epoch, start_step)
        self.next: tuple[Any, Any, float] | None = None
        self.acts: list[Any] = [None] * (self.depth + 1)
        self.ctx: list[Any] = [None] * self.depth
        self.dys: list[Any] = [None] * self.depth
        self.labels: Any = None
        self.loss_sum: Any = 0.0
        self.first_step_loss: Any = None
        self.deferred = [False] * self.depth
        self.share = 1.0
        self._share_of: Callable[[int], float] | None = getattr(batches, "share", None)
        self.reducer: Any = None
        self.reduce_device = "cpu"
        self.reduce_split = False
        self.reduce_values: Callable[[list[float]], list[float]] | None = None

    def prefetch(self) -> None:
        """Load the batch at ``cursor`` into ``next`` and advance the cursor."""
        epoch, step = self.cursor
        if epoch >= self.epochs:
            self.next = None
            return
        share = 1.0 if self._share_of is None else self._share_of(step)
        self.next = (*self.batches.batch(epoch, step), share)
        step += 1
        self.cursor = (epoch + 1, 0) if step == self.steps_per_epoch else (epoch, step)

    def start(self) -> None:
        """Make the prefetched batch the current one."""
        assert self.next is not None, "start() before prefetch()"
        self.acts[0], self.labels, self.share = self.next
        self.next = None

    def forward(self, i: int) -> None:
        self.acts[i + 1], self.ctx[i] = self.layers[i].forward(
            self.acts[i], training=True, rng=self.dropout_rng
        )

    def loss(self, deferred_layers: tuple[int, ...] = ()) -> None:
        """The loss and its gradient; ``deferred_layers`` marks layers whose weight gradient and
        update this step leaves to the next (see the module docstring)."""
        value, ctx = self.loss_fn.forward(self.acts[self.depth], self.labels)
        dy = self.loss_fn.backward(ctx)
        if self.share != 1.0:
            # This rank's mean weighted by its part of the global batch: the allreduce's
            # sum over the ranks is then the global batch's mean (an uneven split too).
            value = value * self.share
            dy = dy * self.share
        self.dys[self.depth - 1] = dy
        self.loss_sum = self.loss_sum + value
        if self.first_step_loss is None:
            self.first_step_loss = value
        for i in deferred_layers:
            self.deferred[i] = True

    def backward_input(self, i: int) -> None:
        self.dys[i - 1] = self.layers[i].backward_input(self.ctx[i], self.dys[i])

    def backward_weight(self, i: int) -> None:
        if self.reducer is not None and i in self.reducer.pieces_of:
            # A layer split into blocks: each block's exchange starts as it is computed.
            self.reducer.compute_and_start(i, self.layers[i], self.ctx[i], self.dys[i])
            return
        grads = self.layers[i].backward_weight(self.ctx[i], self.dys[i])
        for j, g in zip(self.indices[i], grads, strict=True):
            self.params[j].grad = g

    def update(self, i: int) -> None:
        if self.reducer is not None and i in self.reducer.pieces_of:
            self.reducer.finish_and_update(i, self.optimizer)
            return
        for j in self.indices[i]:
            self.optimizer.step_param(j)

    def deferred_weight(self, i: int) -> None:
        """``backward_weight(i)`` of the step before, if it was deferred and not yet done."""
        if self.deferred[i]:
            self.backward_weight(i)

    def deferred_update(self, i: int) -> None:
        """``update(i)`` of the step before, if it was deferred and not yet done."""
        if self.deferred[i]:
            self.deferred[i] = False
            self.update(i)

    def first_loss(self) -> float | None:
        """The loss of this fit's first step (None before it), read on the host."""
        return None if self.first_step_loss is None else float(self.first_step_loss)

    def take_loss_sum(self) -> float:
        """The summed loss since the last call, read on the host (a sync on a GPU), summed
        over the ranks of a data-parallel run (every rank gets the same number)."""
        value, self.loss_sum = self.loss_sum, 0.0
        if self.reduce_values is not None:
            return self.reduce_values([float(value)])[0]
        return float(value)
