"""How many executor workers ``workers="auto"`` picks: the measured fastest per device.

The rule, by the kind of device the step's tasks run on:

- ``cpu`` (numpy, array-api-strict, torch on the CPU): **1 worker, every core for BLAS**.
  Workers are threads of one process and share CPython's GIL; only long BLAS calls
  release it, so a second worker mostly waits. Measured on a 2-core machine for the
  ``condition`` strategy against the numpy loop: 1 worker x 2 BLAS threads 0.91-1.00x,
  2 workers x 1 BLAS thread 0.77x. CPU parallelism comes from BLAS threads (and MPI
  ranks), not from more workers.
- ``cuda`` (cupy, torch on a GPU): **1 worker**. Device tasks only enqueue kernels, and
  one host thread enqueues onto every stream of the pool, so independent tasks still run
  side by side on the GPU; a second worker would only contend for the GIL. Not yet
  measured on a GPU: revisit with ``bench/gpu_check.sh``.

Example::

    workers_for(get_backend("numpy"))   # 1
"""

from __future__ import annotations

from typing import Literal

from tfnn.backends import Backend

AUTO: Literal["auto"] = "auto"

AUTO_WORKERS: dict[str, int] = {"cpu": 1, "cuda": 1}
"""Workers per device kind (the part of the device name before ``:``)."""


def workers_for(backend: Backend) -> int:
    """The workers ``auto`` means on ``backend``'s device (see the module docstring)."""
    return AUTO_WORKERS.get(backend.device.split(":")[0], 1)
