"""``DataParallel``: what ``Trainer.fit`` needs to train on one rank of N.

It bundles the communicator and the choices of a data-parallel run:

- ``shard(batches)``: this rank's slices of the global batches (``ShardedBatches``);
  ``eval_bounds(n)``: this rank's part of the evaluation set;
- ``reducer(params, indices, backend)``: the ``GradientReducer`` whose buckets the
  graph's ``AR`` tasks reduce (``bucket_bytes``: 0 = one bucket per layer, None = one
  for the whole model; by default ``BUCKET_BYTES`` with ``overlap``, else one bucket: a
  blocking call per step, not per layer);
- ``overlap``: the exchange of upper layers runs while lower layers' gradients are
  computed (default: where measured to pay, ``auto_overlap``: on GPUs and between
  machines, not between CPU ranks of one machine). How depends on where the ranks
  compute (``attach`` decides from the backend):
  a CPU rank starts a non-blocking allreduce in its ``AR`` task and waits in an ``AW``
  task after the backward pass (``split``: the one worker never hands off to a thread);
  a GPU rank, whose worker only launches kernels, puts its ``AR`` tasks on the
  communicator's stream (``devices()``: ``{COMM_DEVICE: CommDevice()}``), whose thread
  polls MPI (``POLL_SECONDS`` or ``$TFNN_MPI_POLL``; 0 = MPI's spinning wait) rather than
  spin beside the host's work (``stream=True``/``False`` forces one way or the other).
  ``ar_device`` is where ``AR`` tasks are placed. Overlap off: each ``AR`` blocks its
  worker. ``block_bytes`` (start/wait only, off by default): layers over it are sent in
  blocks of rows (``tfnn.parallel.reducer``), which pays on a slow network;
- ``reduce_values(values)``: sums of host numbers over all ranks (the loss, evaluation
  counts) through the same stream, so each rank issues every collective from one thread
  in one order;
- ``is_root`` (rank 0 prints and writes), ``trace_path``, ``fail`` (report and abort).

State: the communicator, ``overlap``, ``split``, ``bucket_bytes`` and the open
``CommDevice``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NoReturn

from tfnn.data import Batches
from tfnn.parallel.communicator import MPICommunicator, resolve
from tfnn.parallel.device import COMM_DEVICE, CommDevice
from tfnn.parallel.faults import abort_job
from tfnn.parallel.launcher import placement, rank_path
from tfnn.parallel.reducer import GradientReducer
from tfnn.parallel.sharding import ShardedBatches, shard_bounds

POLL_SECONDS = 50e-6
# Small layers share a bucket: each allreduce costs a hand-off to the stream's thread and a
# latency. Measured on 784-64-32-16-8-10 (2 ranks, 2 busy cores): one bucket per layer
# ran 6.0k samples/s, one blocking allreduce per step 10.3k. 128 KiB keeps 784-256-128-10
# in two buckets (its top layers, then the first layer's 0.8 MB), so the exchange of the
# top layers still overlaps the first layer's weight gradient.
BUCKET_BYTES = 128 * 1024
# ``block_bytes`` for a slow network: a layer with more gradient bytes is sent in blocks of
# rows of about this size (start/wait overlap); 784-256-128-10's first layer (0.8 MB, 85%
# of the bytes, computed last) goes in two, so the first block's exchange overlaps the
# second block's gradient and update. Measured (bench/distributed.py, ranks simulated one
# per machine, 10 Gb/s): 1.21x / 1.22x overlap off at 2 / 4 ranks, whole layers 1.03x /
# 1.06x; but at 100 Gb/s, and between ranks of one machine, the blocks cost more than
# they hide: not the default.
BLOCK_BYTES = 512 * 1024
MIN_BLOCK_ROWS = 4


class DataParallel:
    """One rank's view of a data-parallel run (see the module docstring).

    Example::

        dp = DataParallel.create("auto")      # None when this is a single process
        shards = dp.shard(batches); reducer = dp.reducer(params, indices, backend)
    """

    def __init__(
        self,
        communicator: Any,
        *,
        overlap: bool | None = None,
        bucket_bytes: int | str | None = "auto",
        stream: bool | None = None,
        block_bytes: int | None = None,
    ) -> None:
        self.communicator = communicator
        self.rank: int = communicator.rank
        self.size: int = communicator.size
        # None: decided by ``attach`` (``auto_overlap``).
        self.overlap = overlap
        # How to overlap: None decides by the backend's device (``attach``); True puts the
        # AR tasks on the communicator's stream, False splits them into start and wait.
        self.stream = stream
        self.block_bytes = block_bytes
        self._bucket_choice = bucket_bytes
        self.bucket_bytes = self._buckets()
        self.split = False
        self._device: CommDevice | None = None
        self.last_reducer: GradientReducer | None = None

    def _buckets(self) -> int | None:
        choice = self._bucket_choice
        if isinstance(choice, str):
            return BUCKET_BYTES if self.overlap is not False else None
        return choice

    def auto_overlap(self, on_host: bool) -> bool:
        """Overlap where it was measured to pay: on a GPU (the host is free while kernels
        run) and between machines (the network moves the bytes); not between CPU ranks of
        one machine, whose exchange is a copy by the same busy cores (2 ranks x 1 core,
        784-256-128-10: one blocking allreduce a step 49.5k samples/s, overlap 47.0k)."""
        return not on_host or placement().local_size < self.size

    @classmethod
    def create(
        cls,
        distributed: Any,
        *,
        overlap: bool | None = None,
        bucket_bytes: int | str | None = "auto",
        backend: Any = None,
    ) -> DataParallel | None:
        """A ``DataParallel`` for a ``distributed`` choice on ``backend`` (see ``resolve``),
        or None."""
        if isinstance(distributed, DataParallel):
            return distributed
        communicator = resolve(distributed, backend)
        if communicator is None:
            return None
        return cls(communicator, overlap=overlap, bucket_bytes=bucket_bytes)

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    @property
    def ar_device(self) -> str:
        return COMM_DEVICE if self.overlap and not self.split else "cpu"

    def shard(self, batches: Batches) -> ShardedBatches:
        return ShardedBatches(batches, self.rank, self.size)

    def eval_bounds(self, n: int) -> tuple[int, int]:
        return shard_bounds(n, self.rank, self.size)

    def reducer(
        self,
        params: Sequence[Any],
        indices: Sequence[Any],
        backend: Any,
        split: dict[int, int] | None = None,
    ) -> Any:
        self.last_reducer = GradientReducer(
            params, indices, self.communicator, backend, self.bucket_bytes, split
        )
        return self.last_reducer

    def blocks(self, work: Any) -> dict[int, int]:
        """The layers of ``work`` to split into blocks of rows, and how many blocks: those
        over ``block_bytes`` whose layer and optimizer can do it by rows (start/wait
        overlap only: the stream path sends whole layers)."""
        if not self.split or not self.block_bytes:
            return {}
        if not hasattr(work.optimizer, "step_param_rows"):
            return {}
        out = {}
        for i, group in enumerate(work.indices):
            if not len(group) or not hasattr(work.layers[i], "backward_weight_rows"):
                continue
            nbytes = sum(int(work.params[j].value.nbytes) for j in group)
            rows = int(work.params[group[0]].value.shape[0])
            # Blocks of a few rows at least: BLAS sums a one-row block as a matrix-vector
            # product, in another order than the whole layer's (not bit for bit).
            blocks = min(rows // MIN_BLOCK_ROWS, -(-nbytes // self.block_bytes))
            if blocks > 1:
                out[i] = blocks
        return out

    def attach(self, work: Any, backend: Any) -> None:
        """Make ``work`` (a ``StepWork`` over sharded batches) reduce over the ranks."""
        on_host = str(getattr(backend, "device", "cpu")).startswith("cpu")
        if self.overlap is None:
            self.overlap = self.auto_overlap(on_host)
            self.bucket_bytes = self._buckets()
        self.split = self.overlap and not (self.stream if self.stream is not None else not on_host)
        work.reducer = self.reducer(work.params, work.indices, backend, self.blocks(work))
        work.reduce_device = self.ar_device
        work.reduce_split = self.split
        work.reduce_values = self.reduce_values

    def devices(self) -> dict[str, CommDevice]:
        """The communicator's device, opened for one run (``close`` ends it)."""
        if self.ar_device != COMM_DEVICE:
            return {}
        if self._device is None:
            self._device = CommDevice()
            mpi = getattr(self.communicator, "inner", self.communicator)  # Modelled too
            if isinstance(mpi, MPICommunicator) and mpi.poll is None:
                # Measured with 2 ranks on 2 busy cores: 5.6k against 4.8k samples/s when
                # the stream's thread sleeps between tests instead of spinning in MPI's wait.
                mpi.poll = float(os.environ.get("TFNN_MPI_POLL", POLL_SECONDS))
        return {COMM_DEVICE: self._device}

    def reduce_values(self, values: Sequence[float]) -> list[float]:
        reducer = self.last_reducer
        assert reducer is not None, "reduce_values() before reducer()"
        if self._device is not None:
            return list(self._device.stream.call(lambda: reducer.reduce_values(values)))
        return reducer.reduce_values(values)

    def trace_path(self, path: str | os.PathLike[str]) -> str:
        return rank_path(path, self.rank)

    def fail(self, error: BaseException) -> NoReturn:
        code = 130 if isinstance(error, KeyboardInterrupt) else 1
        abort_job(self.communicator, error, code=code)

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
