"""Communicators: the few collectives data-parallel training needs, behind one protocol.

``Communicator`` (a Protocol) has ``rank``, ``size``, ``allreduce(buffer)`` (an in-place
sum of a contiguous float array over all ranks, in the same order on every rank),
``abort(code)`` (end every rank of the job) and ``library``. Implementations:

- ``MPICommunicator``: mpi4py's ``Allreduce`` on a communicator (``COMM_WORLD`` by
  default), and ``start_allreduce(buffer)``: an ``Iallreduce`` whose ``Pending.wait()``
  ends it, so a worker starts an upper layer's exchange and goes on with the backward
  pass of the lower ones, with no thread in between (``tfnn.parallel.graph``). mpi4py's
  blocking calls release the GIL, so a thread that waits in one lets the compute thread
  run; but MPI's wait spins on a core, which the compute needs, so with ``poll`` set
  (``DataParallel`` does, for the communicator's stream) ``allreduce`` starts an
  ``Iallreduce`` and sleeps ``poll`` seconds between tests. Device arrays go to MPI
  directly when the library is CUDA-aware (``cuda_aware``), else through a host copy
  (see ``tfnn.parallel.reducer``).
- ``ThreadGroup(n)``: ``n`` in-process communicators for tests; each ``allreduce`` meets
  the others at a barrier and sums the buffers in rank order (deterministic).
- ``Modelled(inner, network, size=None)``: ``inner``'s allreduce, then a sleep until the
  modelled network time has passed since the exchange started (``NetworkModel``: a ring
  allreduce of ``b`` bytes over ``n`` ranks takes ``2 (n - 1)`` latencies and moves
  ``2 (n - 1) / n * b`` bytes). A started exchange's ``wait`` sleeps only what is left
  of it (the network moves bytes while the ranks compute); there is one link, so an
  exchange starts moving when the one before it is through. With ``size`` it also
  *pretends* to be one of ``size`` ranks (the sum over ``size`` equal shards is ``size``
  times the local one), so one process times a rank of a larger job.

``start_allreduce(comm, buffer)`` starts an exchange on any communicator (one without
``start_allreduce`` does it at once and returns a finished ``Pending``).

``resolve(distributed, backend)`` turns the Trainer's/CLI's choice into a communicator or
None: ``"auto"`` uses NCCL (``tfnn.parallel.nccl``) for a cupy backend on a GPU where
cupy has NCCL, else MPI, when a launcher started more than one rank; ``"mpi"`` and
``"nccl"`` require theirs; ``None``/``"none"`` is a single process, and an object with
``allreduce`` is used as is.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, runtime_checkable

from tfnn.errors import UserError
from tfnn.parallel.launcher import placement


class DistributedError(UserError, RuntimeError):
    """Distributed training cannot run as asked; the message says what to do."""


@runtime_checkable
class Communicator(Protocol):
    """The collectives of data-parallel training (see the module docstring)."""

    rank: int
    size: int
    cuda_aware: bool
    library: str

    def allreduce(self, buffer: Any) -> None: ...
    def abort(self, code: int = 1) -> NoReturn: ...


class Pending(Protocol):
    """A started allreduce: ``wait()`` returns once the buffer holds the sum."""

    def wait(self) -> None: ...


class Finished:
    """The ``Pending`` of an exchange done when it was started."""

    def wait(self) -> None:
        return None


FINISHED = Finished()


def start_allreduce(comm: Any, buffer: Any) -> Pending:
    """Start summing ``buffer`` over ``comm``'s ranks; ``wait()`` on the result ends it.

    Example::

        pending = start_allreduce(comm, g)   # ... compute something else ...
        pending.wait()                       # g holds the sum over the ranks
    """
    start = getattr(comm, "start_allreduce", None)
    if start is not None:
        return start(buffer)
    comm.allreduce(buffer)
    return FINISHED


class MPICommunicator:
    """mpi4py's collectives over ``comm`` (default ``MPI.COMM_WORLD``).

    Example::

        comm = MPICommunicator()
        g = np.ones(10, np.float32); comm.allreduce(g)   # g == size everywhere
    """

    def __init__(self, comm: Any = None) -> None:
        mpi = import_mpi()
        self._mpi = mpi
        self.comm = comm if comm is not None else mpi.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.cuda_aware = cuda_aware(mpi)
        self.library = mpi.Get_library_version().splitlines()[0].strip()
        # Seconds between tests of a pending allreduce; None: MPI's own blocking wait.
        self.poll: float | None = None

    def allreduce(self, buffer: Any) -> None:
        mpi = self._mpi
        if not self.poll:
            self.comm.Allreduce(mpi.IN_PLACE, buffer, op=mpi.SUM)
            return
        # A thread beside the compute: MPI's blocking wait spins on a core the compute
        # needs; test and sleep instead (each Test also moves the reduction on).
        request = self.comm.Iallreduce(mpi.IN_PLACE, buffer, op=mpi.SUM)
        while not request.Test():
            time.sleep(self.poll)

    def start_allreduce(self, buffer: Any) -> Pending:
        mpi = self._mpi
        return _MPIPending(self.comm.Iallreduce(mpi.IN_PLACE, buffer, op=mpi.SUM), buffer)

    def abort(self, code: int = 1) -> NoReturn:
        self.comm.Abort(code)
        raise SystemExit(code)  # Abort does not return; this tells the type checker so

    def __repr__(self) -> str:
        return f"MPICommunicator(rank={self.rank}, size={self.size})"


class _MPIPending:
    # Holds the buffer: MPI writes into it until the request completes.
    __slots__ = ("buffer", "request")

    def __init__(self, request: Any, buffer: Any) -> None:
        self.request = request
        self.buffer = buffer

    def wait(self) -> None:
        self.request.Wait()
        self.buffer = None


def import_mpi() -> Any:
    """mpi4py's MPI module, or a DistributedError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:  # also a missing libmpi, which mpi4py reports this way
        raise DistributedError(
            f"distributed training needs mpi4py and an MPI library ({e}); "
            "install them with: pip install 'tfnn[mpi]'"
        ) from e
    return MPI


def cuda_aware(mpi: Any) -> bool:
    """Whether the MPI library takes GPU buffers (``TFNN_MPI_CUDA_AWARE=0/1`` overrides)."""
    forced = os.environ.get("TFNN_MPI_CUDA_AWARE")
    if forced is not None:
        return forced.strip() not in ("", "0", "false", "no")
    query = getattr(mpi, "Query_cuda_support", None)
    if query is not None:
        return bool(query())
    # MPICH prints its configure line in its version text (a CUDA build says --with-cuda).
    return "--with-cuda" in mpi.Get_library_version().lower()


class ThreadGroup:
    """``size`` communicators that reduce across threads of this process (for tests).

    Example::

        group = ThreadGroup(2)
        # thread r calls group.members[r].allreduce(buf); both see the sum
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._buffers: list[Any] = [None] * size
        self._barrier = threading.Barrier(size)
        self.members = [_ThreadMember(self, r) for r in range(size)]

    def _allreduce(self, rank: int, buffer: Any) -> None:
        self._buffers[rank] = buffer.copy()
        self._barrier.wait()
        total = self._buffers[0].copy()
        for other in self._buffers[1:]:
            total += other
        self._barrier.wait()
        buffer[...] = total

    def abort(self) -> None:
        self._barrier.abort()


class _ThreadMember:
    cuda_aware = False
    library = "tfnn ThreadGroup (in-process)"

    def __init__(self, group: ThreadGroup, rank: int) -> None:
        self.group = group
        self.rank = rank
        self.size = group.size

    def allreduce(self, buffer: Any) -> None:
        self.group._allreduce(self.rank, buffer)

    def abort(self, code: int = 1) -> NoReturn:
        self.group.abort()
        raise SystemExit(code)


@dataclass(frozen=True)
class NetworkModel:
    """A network of ``latency`` seconds per message and ``bandwidth`` bits per second.

    Example::

        NetworkModel(10e-6, 10e9).allreduce_seconds(nbytes=1_000_000, ranks=2)  # ~0.8 ms
    """

    latency: float
    bandwidth: float

    def allreduce_seconds(self, nbytes: int, ranks: int) -> float:
        if ranks < 2:
            return 0.0
        steps = 2 * (ranks - 1)
        return steps * self.latency + steps / ranks * nbytes * 8 / self.bandwidth


class Modelled:
    """``inner``'s allreduce plus a modelled network's time (see the module docstring)."""

    def __init__(self, inner: Any, network: NetworkModel, size: int | None = None) -> None:
        self.inner = inner
        self.network = network
        self.rank = inner.rank
        self.size = size or inner.size
        self._scale = self.size // inner.size if size else 1
        self.cuda_aware = inner.cuda_aware
        self.library = f"{inner.library} + modelled {network}"
        self.seconds = 0.0
        self._link_free = 0.0

    def allreduce(self, buffer: Any) -> None:
        self.start_allreduce(buffer).wait()

    def start_allreduce(self, buffer: Any) -> Pending:
        begin = time.perf_counter()
        inner = start_allreduce(self.inner, buffer)
        # One link: an exchange starts moving bytes once the one before it is through.
        start = max(begin, self._link_free)
        self._link_free = start + self.network.allreduce_seconds(buffer.nbytes, self.size)
        self.seconds += time.perf_counter() - begin
        return _ModelledPending(self, inner, buffer, self._link_free)

    def abort(self, code: int = 1) -> NoReturn:
        self.inner.abort(code)
        raise SystemExit(code)


class _ModelledPending:
    __slots__ = ("buffer", "deadline", "inner", "owner")

    def __init__(self, owner: Modelled, inner: Pending, buffer: Any, deadline: float) -> None:
        self.owner = owner
        self.inner = inner
        self.buffer = buffer
        self.deadline = deadline

    def wait(self) -> None:
        begin = time.perf_counter()
        self.inner.wait()
        if self.owner._scale != 1:
            self.buffer *= self.owner._scale
        sleep_until(self.deadline)
        self.owner.seconds += time.perf_counter() - begin


# time.sleep oversleeps by 50-150 us here (timer slack, a VM's wake-up): sleep to this
# much before the deadline, then yield until it, so a modelled exchange is not longer
# than modelled (each bucket would pay the error once).
_SLEEP_MARGIN = 200e-6


def sleep_until(deadline: float) -> None:
    """Return at ``deadline`` (a ``time.perf_counter`` value), not much later."""
    left = deadline - time.perf_counter()
    if left > _SLEEP_MARGIN:
        time.sleep(left - _SLEEP_MARGIN)
    while time.perf_counter() < deadline:
        time.sleep(0)  # lets other threads have the GIL and the core


class Single:
    """A communicator of one rank: every collective is the identity."""

    rank = 0
    size = 1
    cuda_aware = True
    library = "none (one process)"

    def allreduce(self, buffer: Any) -> None:
        return None

    def abort(self, code: int = 1) -> NoReturn:
        raise SystemExit(code)


DISTRIBUTED_CHOICES = ("auto", "mpi", "nccl", "none")


def resolve(distributed: Any, backend: Any = None) -> Any | None:
    """The communicator for a ``distributed`` choice on ``backend`` (NCCL needs a cupy
    one), or None for a single process.

    Example::

        resolve("auto")   # None alone; an MPICommunicator under `mpiexec -n 2`
    """
    # nccl builds on this module: imported here, not at the top.
    from tfnn.parallel import nccl

    if distributed is None or distributed == "none":
        return None
    if distributed == "auto":
        if placement().size < 2:
            return None
        if nccl.nccl_usable(backend):
            return nccl.NcclCommunicator(backend.device)
        return MPICommunicator()
    if distributed in ("mpi", "nccl"):
        comm = MPICommunicator() if distributed == "mpi" else nccl.nccl_communicator(backend)
        return comm if comm.size > 1 else None
    if isinstance(distributed, str):
        raise DistributedError(
            f"unknown distributed mode {distributed!r}; choose one of "
            f"{', '.join(DISTRIBUTED_CHOICES)} or pass a communicator"
        )
    if not isinstance(distributed, Communicator):
        raise DistributedError(
            f"distributed={distributed!r} is neither a mode nor a communicator "
            "(an object with rank, size, cuda_aware, library, allreduce and abort)"
        )
    return distributed if distributed.size > 1 else None
