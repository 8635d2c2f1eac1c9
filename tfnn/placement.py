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

GPU rank ``r`` uses ``cuda:(local rank mod device count)`` (``device_for_rank``);
``rank_gpu`` is that device for this process when a launcher started several ranks,
which ``tfnn.backends.get_backend`` uses when no device is given. This module imports
nothing of tfnn, so both ``tfnn.backends`` and ``tfnn.parallel`` build on it (the
package ``tfnn.parallel`` pulls in the training code, which imports the backends).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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


def device_for_rank(local_rank: int, device_count: int) -> str:
    """The GPU of a rank: ``cuda:(local rank mod device count)``.

    Example::

        device_for_rank(3, 2)   # "cuda:1"
    """
    if device_count < 1:
        raise ValueError("device_for_rank needs at least one GPU")
    return f"cuda:{local_rank % device_count}"


def rank_gpu(
    device_count: Callable[[], int], environ: Mapping[str, str] | None = None
) -> str | None:
    """This rank's GPU when a launcher started several ranks (``device_for_rank`` over
    ``device_count()`` GPUs); None in a single process or where there is no GPU.

    Example::

        rank_gpu(lambda: 2, {"PMI_SIZE": "4", "PMI_RANK": "3"})   # "cuda:1"
    """
    where = placement(environ)
    if where.size < 2:
        return None
    count = device_count()
    return device_for_rank(where.local_rank, count) if count > 0 else None
