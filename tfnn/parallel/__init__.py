"""Data-parallel training over MPI (see DESIGN.md, "Distributed").

Each rank trains the same graph on its slice of every global batch; gradients are summed
by allreduce tasks on the communicator's own stream (``tfnn.parallel.device``), so the
exchange overlaps the backward pass. ``nn`` and ``executor`` know nothing of this package.

Modules: ``launcher`` (rank, local rank, BLAS threads and GPU per rank, from the
launcher's environment), ``communicator`` (MPI, in-process and modelled-network
communicators), ``device`` (the communicator's stream), ``sharding`` (the global batch
split), ``reducer`` (gradient buckets), ``graph`` (the ``AR`` tasks), ``faults`` (one
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
