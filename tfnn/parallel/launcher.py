"""Where this process sits in a parallel job, read from the launcher's environment.

``placement()`` (this process's rank, the job's size and its rank on this node, read from
the variables of ``mpiexec``/``srun`` without importing MPI) and ``device_for_rank`` live in
``tfnn.placement``, which the backends use too; they are re-exported here.

Per-rank resources follow from the placement: ``blas_threads_per_rank`` shares the
cores of a node among its ranks (ranks x threads never exceeds the cores: an
oversubscribed OpenBLAS busy-waits and runs many times slower), and ``device_for_rank``
gives GPU rank ``r`` the device ``cuda:(local rank mod device count)``.
"""

from __future__ import annotations

import os

from tfnn.placement import Placement, device_for_rank, placement, rank_gpu

__all__ = [
    "Placement",
    "blas_threads_per_rank",
    "device_for_rank",
    "placement",
    "rank_gpu",
    "rank_path",
]


def blas_threads_per_rank(local_size: int, cores: int | None = None) -> int:
    """BLAS threads for each of ``local_size`` ranks on a node of ``cores`` cores.

    Example::

        blas_threads_per_rank(2, cores=2)   # 1: two ranks, one core each
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, local_size))


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
