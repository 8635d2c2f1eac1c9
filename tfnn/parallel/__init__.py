"""Data-parallel training over MPI (see DESIGN.md, "Distributed").

Each rank trains the same graph on its slice of every global batch; gradients are summed
by allreduce tasks in that graph (``tfnn.parallel.graph``), so the exchange of upper
layers overlaps the backward pass of lower ones: on a CPU rank an ``AR`` task starts a
non-blocking allreduce and an ``AW`` task waits for it after the backward pass; on a GPU
rank ``AR`` tasks run on the communicator's own stream (``tfnn.parallel.device``).
``nn`` and ``executor`` know nothing of this package.

Modules: ``launcher`` (BLAS threads per rank, per-rank file names; the placement itself
is ``tfnn.placement``), ``communicator`` (MPI, in-process and modelled-network
communicators), ``nccl`` (NCCL through cupy), ``staging`` (pinned host buffers),
``device`` (the communicator's stream), ``sharding`` (the global batch split),
``reducer`` (gradient buckets), ``graph`` (the ``AR``/``AW`` tasks), ``faults`` (one
rank's failure ends the job), ``data_parallel`` (the bundle ``Trainer.fit`` uses),
``info`` (what ``tfnn info`` shows).
"""

from tfnn.parallel.communicator import (
    DISTRIBUTED_CHOICES,
    Communicator,
    DistributedError,
    Modelled,
    MPICommunicator,
    NetworkModel,
    Single,
    ThreadGroup,
    resolve,
)
from tfnn.parallel.data_parallel import DataParallel
from tfnn.parallel.device import COMM_DEVICE, CommDevice
from tfnn.parallel.launcher import (
    Placement,
    blas_threads_per_rank,
    device_for_rank,
    placement,
    rank_path,
)
from tfnn.parallel.sharding import ShardedBatches, shard_bounds

__all__ = [
    "COMM_DEVICE",
    "DISTRIBUTED_CHOICES",
    "CommDevice",
    "Communicator",
    "DataParallel",
    "DistributedError",
    "MPICommunicator",
    "Modelled",
    "NetworkModel",
    "Placement",
    "ShardedBatches",
    "Single",
    "ThreadGroup",
    "blas_threads_per_rank",
    "device_for_rank",
    "placement",
    "rank_path",
    "resolve",
    "shard_bounds",
]
