"""``fsync_dir``: make a rename into a directory durable (checkpoints, downloads)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Flush ``directory``'s entries to disk, so a finished ``os.replace`` survives a crash.

    Example::

        os.replace(temp, target)
        fsync_dir(target.parent)
    """
    # Some filesystems refuse to open a directory; the rename is then as durable as they allow.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
