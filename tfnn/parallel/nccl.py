"""NCCL for cupy ranks: gradients summed GPU to GPU by cupy's ``cupy.cuda.nccl``.

``NcclCommunicator`` implements the ``Communicator`` protocol
(``tfnn.parallel.communicator``) with NCCL, MPI only starting it: rank 0 draws
``nccl.get_unique_id()``, ``COMM_WORLD.bcast`` hands it to every rank, and each rank
makes its ``nccl.NcclCommunicator(size, unique_id, rank)`` with its GPU current (an NCCL
communicator belongs to the device current when it is made). ``allreduce(buffer)`` on a
cupy array enqueues ``allReduce`` in place (float32 or float64, by the buffer's dtype) on
a stream of the buffer's GPU, after the work of the calling thread's current stream
(which made the buffer), and synchronises that stream, so the caller sees the sum when
it returns, as with MPI. A numpy buffer (the few host numbers ``reduce_values`` sums)
goes to the GPU and back around the same call. ``abort`` ends the job through MPI's
``Abort``, as ``MPICommunicator`` does.

Selection (``tfnn.parallel.communicator.resolve``): ``distributed="nccl"`` requires it
(``nccl_communicator`` says what is missing: cupy, NCCL, or a cupy backend on a GPU);
``"auto"`` takes it when ``nccl_usable(backend)``, else MPI. NCCL takes one GPU per rank:
more ranks on a node than GPUs is an error for ``"nccl"`` and means MPI for ``"auto"``.

State: the MPI communicator (bootstrap and abort), the NCCL communicator, its GPU and
the stream its reductions run on.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any, NoReturn

import numpy as np

from tfnn.parallel.communicator import DistributedError, import_mpi
from tfnn.placement import placement

INSTALL = (
    "install cupy with NCCL (pip install 'tfnn[cuda12]' nvidia-nccl-cu12, or the cuda13 "
    "pair), or use --distributed mpi"
)


def import_nccl() -> tuple[Any, Any]:
    """``(cupy, cupy.cuda.nccl)``, or a DistributedError that says what to install."""
    try:
        cupy = importlib.import_module("cupy")
        nccl = importlib.import_module("cupy.cuda.nccl")
    except ImportError as e:
        raise DistributedError(f"distributed='nccl' needs cupy and NCCL ({e}); {INSTALL}") from e
    if not getattr(nccl, "available", False):
        raise DistributedError(
            f"cupy {cupy.__version__} finds no NCCL library (cupy.cuda.nccl.available is "
            f"False); {INSTALL}"
        )
    return cupy, nccl


def nccl_status() -> str | None:
    """None when NCCL is usable through cupy here, else why not (without importing cupy
    where it is not installed: ``tfnn info`` asks)."""
    if sys.modules.get("cupy") is None and importlib.util.find_spec("cupy") is None:
        return "cupy is not installed"
    try:
        import_nccl()
    except DistributedError as e:
        return str(e)
    return None


def nccl_usable(backend: Any) -> bool:
    """Whether ``"auto"`` takes NCCL: a cupy backend on a GPU, NCCL available, and a GPU
    for each rank of this node."""
    if backend is None or getattr(backend, "name", "") != "cupy":
        return False
    if not str(backend.device).startswith("cuda") or nccl_status() is not None:
        return False
    cupy, _ = import_nccl()
    return _shared_gpus(cupy) is None


def _shared_gpus(cupy: Any) -> str | None:
    # NCCL refuses two ranks on one GPU ("Duplicate GPU detected") when it starts.
    ranks = placement().local_size
    gpus = int(cupy.cuda.runtime.getDeviceCount())
    if ranks <= gpus:
        return None
    return (
        f"{ranks} ranks on this node share {gpus} GPU{'s' if gpus != 1 else ''}, and NCCL "
        f"needs a GPU per rank; start at most {gpus} ranks per node, or use --distributed mpi"
    )


def nccl_communicator(backend: Any, comm: Any = None) -> NcclCommunicator:
    """The ``NcclCommunicator`` for ``backend``'s GPU, or a DistributedError that says why
    ``distributed="nccl"`` cannot run (the backend is not cupy on a GPU, no cupy, no NCCL)."""
    name = getattr(backend, "name", None)
    device = str(getattr(backend, "device", ""))
    if name != "cupy" or not device.startswith("cuda"):
        where = f"the {name} backend on {device}" if name else "no backend"
        raise DistributedError(
            f"distributed='nccl' reduces cupy arrays on GPUs, and this run has {where}; "
            "use --backend cupy (with a GPU), or --distributed mpi"
        )
    cupy, _ = import_nccl()
    shared = _shared_gpus(cupy)
    if shared is not None:
        raise DistributedError(f"distributed='nccl': {shared}")
    return NcclCommunicator(device, comm)


class NcclCommunicator:
    """NCCL's allreduce between the GPUs of the ranks (see the module docstring).

    Example::

        comm = NcclCommunicator("cuda:0")        # under mpiexec -n 2, on every rank
        g = cupy.ones(10, cupy.float32); comm.allreduce(g)   # g == 2 everywhere
    """

    cuda_aware = True

    def __init__(self, device: str = "cuda:0", comm: Any = None) -> None:
        self._cupy, self._nccl = import_nccl()
        self.comm = comm if comm is not None else import_mpi().COMM_WORLD
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        self.index = int(device.partition(":")[2] or 0)
        unique_id = self._nccl.get_unique_id() if self.rank == 0 else None
        unique_id = self.comm.bcast(unique_id, root=0)
        cuda = self._cupy.cuda
        with cuda.Device(self.index):
            self.nccl = self._nccl.NcclCommunicator(self.size, unique_id, self.rank)
            self.stream = cuda.Stream(non_blocking=True)
        self.library = f"NCCL {_version(self._nccl.get_version())} (started over MPI)"
        self._dtypes = {
            np.dtype(np.float32): self._nccl.NCCL_FLOAT32,
            np.dtype(np.float64): self._nccl.NCCL_FLOAT64,
        }

    def allreduce(self, buffer: Any) -> None:
        if isinstance(buffer, np.ndarray):
            self._allreduce_host(buffer)
            return
        kind = self._dtypes.get(np.dtype(buffer.dtype))
        if kind is None:
            raise TypeError(f"NCCL allreduce takes float32 or float64, not {buffer.dtype}")
        cuda = self._cupy.cuda
        with cuda.Device(self.index):
            # The buffer was written on the calling thread's current stream.
            event = cuda.Event(disable_timing=True)
            event.record(cuda.get_current_stream())
            self.stream.wait_event(event)
            pointer = buffer.data.ptr
            self.nccl.allReduce(
                pointer, pointer, buffer.size, kind, self._nccl.NCCL_SUM, self.stream.ptr
            )
            self.stream.synchronize()

    def _allreduce_host(self, buffer: np.ndarray) -> None:
        with self._cupy.cuda.Device(self.index):
            on_gpu = self._cupy.asarray(buffer)
            self.allreduce(on_gpu)
            buffer[...] = on_gpu.get()

    def abort(self, code: int = 1) -> NoReturn:
        self.comm.Abort(code)
        raise SystemExit(code)  # Abort does not return; this tells the type checker so

    def __repr__(self) -> str:
        return f"NcclCommunicator(rank={self.rank}, size={self.size}, device=cuda:{self.index})"


def _version(code: int) -> str:
    # NCCL 2.9 and later: major * 10000 + minor * 100 + patch; before: * 1000 + * 100.
    major, rest = divmod(int(code), 10000 if code >= 20900 else 1000)
    return f"{major}.{rest // 100}.{rest % 100}"
