"""Download MNIST files from a list of mirrors into a cache directory, checksums verified.

For each file the mirrors are tried in order. A file is streamed into a temporary file in
the cache directory (with a tqdm progress bar), flushed and fsynced, its gzip content
decompressed and checked against the known md5 of the uncompressed file, and only then
moved into place with ``os.replace``: the cache never holds a partial or wrong file. A
mirror that fails, or serves a file that is not gzip or does not match the checksum, is
skipped; when every mirror fails, ``DownloadError`` lists each mirror's failure.

State: none besides the files in the cache directory.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from tfnn.data.errors import DataError
from tfnn.fsync import written_atomically

DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MIRRORS_ENV = "TFNN_MNIST_MIRRORS"
CHUNK = 1 << 20


class DownloadError(DataError):
    """No mirror could deliver a verified copy of a file; the message lists why for each."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tfnn/mnist``, or ``~/.cache/tfnn/mnist`` when that is unset.

    Example::

        default_cache_dir()   # PosixPath('/home/me/.cache/tfnn/mnist')
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "tfnn" / "mnist"


def mirrors() -> list[str]:
    """The mirror base URLs: ``$TFNN_MNIST_MIRRORS`` (comma-separated) if set, else the defaults.

    Setting the variable replaces the defaults, so an offline site can name only its own.

    Example::

        os.environ["TFNN_MNIST_MIRRORS"] = "http://mirror.local/mnist/"
        mirrors()   # ['http://mirror.local/mnist/']
    """
    configured = [u.strip() for u in os.environ.get(MIRRORS_ENV, "").split(",") if u.strip()]
    return configured or list(DEFAULT_MIRRORS)


def download(
    name: str,
    md5: str,
    cache_dir: str | os.PathLike[str],
    *,
    mirror_urls: Sequence[str] | None = None,
    progress: bool | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch ``name`` (a ``.gz`` file) into ``cache_dir`` from the first mirror that serves it
    with uncompressed md5 ``md5``; return its path. ``progress=None`` shows a bar on a TTY.

    Example::

        download("t10k-labels-idx1-ubyte.gz", "27ae3e4e09519cfbb04c329615203637", "/tmp/mnist")
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / name
    urls = list(mirrors() if mirror_urls is None else mirror_urls)
    failures = []
    for base in urls:
        url = base if base.endswith("/") else base + "/"
        url += name
        try:
            _fetch_verified(url, md5, target, progress, timeout)
            return target
        except (OSError, ValueError, http.client.HTTPException) as e:
            failures.append(f"  {url}: {_describe(e)}")
    tried = "\n".join(failures) or f"  (no mirrors: {MIRRORS_ENV} and the defaults are empty)"
    raise DownloadError(
        f"could not download {name} from any mirror:\n{tried}\n"
        f"Download the MNIST IDX files yourself and pass their folder as data_dir (or set "
        f"$TFNN_DATA_DIR), or name a reachable mirror in {MIRRORS_ENV}."
    )


def _fetch_verified(
    url: str, md5: str, target: Path, progress: bool | None, timeout: float
) -> None:
    with written_atomically(target, suffix=".part") as (out, temp):
        _stream(url, out, progress, timeout)
        out.flush()
        actual = gunzip_md5(temp)
        if actual != md5:
            raise DataError(f"checksum mismatch: md5 of the content is {actual}, not {md5}")


def _describe(error: Exception) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _stream(url: str, out: BinaryIO, progress: bool | None, timeout: float) -> None:
    try:
        # Some mirrors refuse urllib's default User-Agent.
        request = urllib.request.Request(url, headers={"User-Agent": "tfnn"})
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        # An HTTPError holds the open response; closing it avoids a ResourceWarning.
        e.close()
        raise
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total,
            desc=url.rsplit("/", 1)[-1],
            unit="B",
            unit_scale=True,
            disable=None if progress is None else not progress,
            leave=False,
        ) as bar:
            received = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    # urllib does not always notice a connection closed early; the announced length does.
    if total is not None and received != total:
        raise DataError(f"transfer cut short after {received} of {total} bytes")


def gunzip_md5(path: Path) -> str:
    """The md5 hex digest of the decompressed content of the gzip file ``path``.

    Example::

        gunzip_md5(Path("t10k-labels-idx1-ubyte.gz"))   # '27ae3e4e09519cfbb04c329615203637'
    """
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"not a valid gzip file ({e})") from e
    return digest.hexdigest()
