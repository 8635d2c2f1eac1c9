"""Durable file writes: ``written_atomically`` (checkpoints, downloads) and ``fsync_dir``.

A write goes to ``.NAME.<8 hex><suffix>`` beside ``NAME`` and is renamed over it; only a
kill between the two leaves that temporary behind, and ``remove_stale_temporaries``
(called by the next run before it writes) deletes it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def written_atomically(target: Path, suffix: str = ".tmp") -> Iterator[tuple[BinaryIO, Path]]:
    """Write ``target`` through a temporary file beside it; yield ``(file, temp_path)``.

    When the block ends without error the file is flushed, fsynced and renamed over
    ``target``, and the rename made durable; if the block (or any of that) raises, the
    temporary file is removed and ``target`` is left as it was. The block may read
    ``temp_path`` back (after ``file.flush()``) to check what it wrote, and raise to refuse it.

    Example::

        with written_atomically(Path("run/ckpt.safetensors")) as (f, _):
            f.write(data)
    """
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{suffix}")
    try:
        # os.open with 0o666 lets the umask decide the mode, as for any new file.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            yield f, temp
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_dir(target.parent)


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


def remove_stale_temporaries(target: Path, suffix: str = ".tmp") -> list[Path]:
    """Delete ``.NAME.<8 hex><suffix>`` files beside ``target``; return what was deleted.

    Only this run writes to ``target``, so such a file is left from a killed earlier run.

    Example::

        remove_stale_temporaries(Path("run/ckpt.safetensors"))   # [.ckpt.safetensors.1a2b3c4d.tmp]
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{8}}{re.escape(suffix)}")
    removed: list[Path] = []
    folder = target.parent
    if not folder.is_dir():
        return removed
    for candidate in folder.iterdir():
        if pattern.fullmatch(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed
