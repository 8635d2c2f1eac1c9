"""Where this process sits in a parallel job, read from the launcher's environment.

``mpiexec`` (MPICH's Hydra, Open MPI's ``mpirun``) and Slurm's ``srun`` tell each process
its rank, the job's size and its rank on this node through environment variables, so the
question "am I one of several ranks?" needs no MPI import (importing mpi4py initialises
MPI, which a single process should not pay for). ``placement()`` reads them, first match
wins:

==============  ===================  ====================  ==========================
launcher        size                 rank                  local rank / local size
==============  ===================  ====================  ==========================
Open MPI        OMPI_COMM_WORLD_SIZE OMPI_COMM_WORLD_RANK  ..._LOCAL_RANK / _LOCAL_SIZE
MPICH, Intel    PMI_SIZE             PMI_RANK              MPI_LOCALRANKID / NRANKS
Slurm (srun)    SLURM_NTASKS         SLURM_PROCID          SLURM_LOCALID / NTASKS_PER_NODE
==============  ===================  ====================  ==========================

Per-rank resources follow from the placement: ``blas_threads_per_rank`` shares the
cores of a node among its ranks (ranks x threads never exceeds the cores: an
oversubscribed OpenBLAS busy-waits and runs many times slower), and ``device_for_rank``
gives GPU rank ``r`` the device ``cuda:(local rank mod device count)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Placement:
    """This process's place in the job; ``launcher`` is None outside any launcher."""

    size: int = 1
    rank: int = 0
    local_rank: int = 0
    local_size: int = 1
    launcher: str | None = None


_LAUNCHERS = (
    (
        "Open MPI",
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "OMPI_COMM_WORLD_LOCAL_SIZE",
    ),
    ("MPICH", "PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
    ("Slurm", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"),
)


def placement(environ: Mapping[str, str] | None = None) -> Placement:
    """Read the launcher's variables (see the module docstring).

    Example::

        placement({"PMI_SIZE": "2", "PMI_RANK": "1"})   # Placement(size=2, rank=1, ...)
    """
    env = os.environ if environ is None else environ
    for name, size, rank, local_rank, local_size in _LAUNCHERS:
        if size in env and rank in env:
            world = _int(env[size], 1)
            me = _int(env[rank], 0)
            # Without a local count (a bare PMI or a heterogeneous Slurm step), assume
            # every rank is on this node: the safe side for sharing the cores.
            local = _int(env.get(local_size, ""), world)
            return Placement(world, me, _int(env.get(local_rank, ""), me % local), local, name)
    return Placement()


def _int(text: str, default: int) -> int:
    # Slurm writes "2(x3)" for uneven task counts; its first number is this node's.
    digits = text.split("(")[0].split(",")[0].strip()
    return int(digits) if digits.isdigit() else default


def blas_threads_per_rank(local_size: int, cores: int | None = None) -> int:
    """BLAS threads for each of ``local_size`` ranks on a node of ``cores`` cores.

    Example::

        blas_threads_per_rank(2, cores=2)   # 1: two ranks, one core each
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, local_size))


def device_for_rank(local_rank: int, device_count: int) -> str:
    """The GPU of a rank: ``cuda:(local rank mod device count)``.

    Example::

        device_for_rank(3, 2)   # "cuda:1"
    """
    if device_count < 1:
        raise ValueError("device_for_rank needs at least one GPU")
    return f"cuda:{local_rank % device_count}"


def rank_device(backend: str | None, local_rank: int) -> str | None:
    """The device of a rank for a GPU ``backend`` (cupy, torch): ``device_for_rank`` over
    the GPUs there are; None (the backend's default) on the host or without a GPU."""
    name = backend or os.environ.get("TFNN_BACKEND") or "numpy"
    count = 0
    try:
        if name == "cupy":
            import cupy

            count = cupy.cuda.runtime.getDeviceCount()
        elif name == "torch":
            import torch

            count = torch.cuda.device_count()
    except Exception:  # no driver, no library: the backend's own error says it better
        return None
    return device_for_rank(local_rank, count) if count else None


def rank_path(path: str | os.PathLike[str], rank: int) -> str:
    """The file a rank writes for ``path``: ``path`` itself on rank 0, else
    ``stem.rank<r>.suffix`` beside it (per-rank traces).

    Example::

        rank_path("t.json", 1)   # "t.rank1.json"
    """
    text = os.fspath(path)
    if rank == 0:
        return text
    head, tail = os.path.split(text)
    stem, dot, suffix = tail.rpartition(".")
    name = f"{stem}.rank{rank}.{suffix}" if dot and stem else f"{tail}.rank{rank}"
    return os.path.join(head, name)
