"""Faults in a data-parallel job: one rank's failure ends every rank.

A rank whose task raises (or that is interrupted) stops taking part in collectives, and
its partners would wait in their next allreduce forever. So the rank reports what
failed, with its rank and the task's name, on stderr, and aborts the whole job
(``MPI_Abort``: the launcher kills every rank and exits non-zero). A rank killed outright
(SIGKILL) cannot report; ``mpiexec`` notices the lost process and ends the others.

Not a fault: ``TrainingDiverged`` is decided from a loss reduced over all ranks, so every
rank raises it at the same step and the job ends normally, with its one-line message.
Checkpoints stay intact across an abort because rank 0 writes them atomically (a
temporary file renamed over the old one).
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, NoReturn, TextIO


def describe_failure(error: BaseException, rank: int, size: int) -> str:
    """One line: which rank failed, in which task, with what.

    Example::

        describe_failure(TaskError("BW2", "train", ValueError("bad")), 1, 2)
        # "tfnn: rank 1 of 2 failed in task 'BW2': ValueError: bad; ending the job"
    """
    task = getattr(error, "task", None)
    cause = error.__cause__ if task is not None and error.__cause__ is not None else error
    where = f" in task {task!r}" if task else ""
    what = "interrupted (Ctrl-C)" if isinstance(cause, KeyboardInterrupt) else None
    text = what or f"{type(cause).__name__}: {cause}"
    return f"tfnn: rank {rank} of {size} failed{where}: {text}; ending the job"


def abort_job(
    communicator: Any, error: BaseException, stream: TextIO | None = None, code: int = 1
) -> NoReturn:
    """Report ``error`` (a bug keeps its traceback) and abort every rank of the job."""
    out = stream or sys.stderr
    # The line first: the launcher may drop what is still in flight when the job ends.
    print(describe_failure(error, communicator.rank, communicator.size), file=out, flush=True)
    if not isinstance(error, KeyboardInterrupt):
        traceback.print_exception(error, file=out)
        out.flush()
    communicator.abort(code)
    raise SystemExit(code)  # an abort that returned (a test double): still end here
