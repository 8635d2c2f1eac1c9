"""What ``tfnn info`` says about MPI (the library, its version, CUDA-awareness) and NCCL.

Importing mpi4py's ``MPI`` initialises MPI, which is cheap alone (no launcher: a
singleton job of one rank), so ``mpi_info`` does it only when asked. ``format_nccl``
imports cupy only where it is installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfnn.parallel.communicator import DistributedError, cuda_aware, import_mpi
from tfnn.parallel.launcher import placement


@dataclass(frozen=True)
class MPIInfo:
    """``library`` is None when MPI is unusable; ``reason`` then says why."""

    library: str | None
    mpi4py: str | None
    cuda_aware: bool
    ranks: int
    launcher: str | None
    reason: str | None = None


def mpi_info() -> MPIInfo:
    """Describe the MPI tfnn would use.

    Example::

        mpi_info().library   # "MPICH Version: 5.0.2" (or None, with .reason)
    """
    where = placement()
    try:
        mpi = import_mpi()
    except DistributedError as e:
        return MPIInfo(None, None, False, where.size, where.launcher, str(e))
    import mpi4py

    library = mpi.Get_library_version().splitlines()[0].strip()
    return MPIInfo(
        " ".join(library.split()), mpi4py.__version__, cuda_aware(mpi), where.size, where.launcher
    )


def format_mpi(info: MPIInfo) -> str:
    """The ``tfnn info`` line for MPI."""
    if info.library is None:
        return f"mpi: no ({info.reason})"
    launched = f"{info.ranks} ranks under {info.launcher}" if info.launcher else "no launcher"
    aware = "yes" if info.cuda_aware else "no (GPU gradients staged through host memory)"
    return f"mpi: {info.library}, mpi4py {info.mpi4py}, CUDA-aware: {aware}; {launched}"


def format_nccl(reason: str | None) -> str:
    """The ``tfnn info`` line for NCCL; ``reason`` (``nccl_status()``) is None when usable."""
    if reason is None:
        return "nccl: yes, through cupy (--distributed nccl, or auto on cupy GPUs)"
    return f"nccl: no ({reason})"
