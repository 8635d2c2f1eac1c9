"""Read and write the IDX format of MNIST, raw or gzipped.

An IDX file is a 4-byte magic number — two zero bytes, a dtype code, the number of
dimensions ``ndim`` — then ``ndim`` big-endian uint32 sizes, then the values in C order,
big-endian. A gzipped file is recognised by the gzip magic bytes ``1f 8b``, not by its
name. The payload must hold exactly the number of values the header announces; anything
else is a ``DataError`` naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from tfnn.data.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODES: dict[np.dtype, int] = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a writable numpy array in native byte order.

    Example::

        images = read_idx("train-images-idx3-ubyte.gz")   # uint8, shape (60000, 28, 28)
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise _corrupt(path, f"it is not a valid gzip stream ({e})") from e
    if len(data) < 4:
        raise _corrupt(path, f"it holds {len(data)} bytes, fewer than the 4-byte IDX magic")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in DTYPES:
        raise _corrupt(path, f"its magic number {data[:4].hex()} is not an IDX magic number")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _corrupt(path, f"it ends inside its {header}-byte header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    if len(data) - header != expected:
        raise _corrupt(
            path,
            f"its header announces shape {shape} ({expected} bytes of data) "
            f"but it holds {len(data) - header} bytes",
        )
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def encode_idx(array: np.ndarray) -> bytes:
    """The raw (uncompressed) IDX bytes of ``array``.

    Example::

        encode_idx(np.array([7], dtype=np.uint8)).hex()   # "000008010000000107"
    """
    array = np.asarray(array)
    code = CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        kinds = ", ".join(str(d.newbyteorder("=")) for d in DTYPES.values())
        raise TypeError(f"IDX cannot hold dtype {array.dtype}; convert to one of {kinds}")
    if array.ndim > 255 or any(n >= 2**32 for n in array.shape):
        raise ValueError(f"IDX cannot hold shape {array.shape}: at most 255 sizes below 2**32")
    header = bytes([0, 0, code, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None
) -> None:
    """Write ``array`` as an IDX file; gzipped (reproducibly, no name or time) if ``compress``.

    ``compress`` defaults to whether the name ends in ``.gz``.

    Example::

        write_idx("labels-idx1-ubyte.gz", np.array([3, 1, 4], dtype=np.uint8))
    """
    path = Path(path)
    data = encode_idx(array)
    if path.name.endswith(".gz") if compress is None else compress:
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)


def _corrupt(path: Path, why: str) -> DataError:
    return DataError(
        f"{path} is not a usable IDX file: {why}. "
        "Delete it and download it again, or use a good copy."
    )
