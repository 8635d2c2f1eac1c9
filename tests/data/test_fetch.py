"""Downloads against loopback HTTP mirrors: verification, fallback, atomic writes, cache reuse."""

from __future__ import annotations

import gzip
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from tfnn.data import DataError, DownloadError, default_cache_dir, load_mnist, mirrors, read_idx
from tfnn.data.fetch import DEFAULT_MIRRORS, download
from tfnn.data.mnist import MD5

LABELS = "t10k-labels-idx1-ubyte"


class MirrorHandler(BaseHTTPRequestHandler):
    """Serves ``server.root`` in the way ``server.mode`` says, and records each path asked."""

    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        path = server.root / self.path.rsplit("/", 1)[-1]
        if server.mode == "missing" or not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        if server.mode == "corrupt":
            # A valid gzip stream whose content differs by one byte: only the md5 can tell.
            content = bytearray(gzip.decompress(body))
            content[-1] ^= 0xFF
            body = gzip.compress(bytes(content), compresslevel=1)
        elif server.mode == "garbage":
            body = b"<html>not the file you want</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if server.mode == "truncate" else body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def serve(shared_mnist, monkeypatch):
    """``serve(mode)`` starts a loopback mirror of the official files and returns its base URL
    and its list of requested paths."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    servers = []

    def start(mode="good"):
        server = HTTPServer(("127.0.0.1", 0), MirrorHandler)
        server.root, server.mode, server.requests = shared_mnist, mode, []
        thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}/mnist/", server.requests

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def dead_url():
    """A loopback URL whose port refuses connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def use_mirrors(monkeypatch, *urls):
    monkeypatch.setenv("TFNN_MNIST_MIRRORS", ",".join(urls))


def test_download_verifies_and_caches(serve, monkeypatch, tmp_path, shared_mnist):
    url, requests = serve()
    use_mirrors(monkeypatch, url)
    images, labels = load_mnist("test", cache_dir=tmp_path, progress=False)
    assert images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(labels, read_idx(shared_mnist / f"{LABELS}.gz"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    assert len(requests) == 2


def test_cache_reuse_makes_no_request(serve, monkeypatch, tmp_path):
    url, requests = serve()
    use_mirrors(monkeypatch, url)
    load_mnist("test", cache_dir=tmp_path, progress=False)
    asked = len(requests)
    load_mnist("test", cache_dir=tmp_path, progress=False)
    assert len(requests) == asked


def test_default_cache_dir_is_used(serve, monkeypatch, tmp_path):
    url, _ = serve()
    use_mirrors(monkeypatch, url)
    load_mnist("test", progress=False)
    assert (tmp_path / "xdg-cache" / "tfnn" / "mnist" / f"{LABELS}.gz").is_file()


@pytest.mark.parametrize("bad", ["corrupt", "garbage", "truncate", "missing"])
def test_bad_mirror_is_skipped(serve, monkeypatch, tmp_path, bad):
    bad_url, bad_requests = serve(bad)
    good_url, good_requests = serve()
    path = download(f"{LABELS}.gz", MD5[LABELS], tmp_path, mirror_urls=[bad_url, good_url])
    assert bad_requests == good_requests == [f"/mnist/{LABELS}.gz"]
    assert read_idx(path).shape == (10000,)
    assert [p.name for p in tmp_path.iterdir()] == [f"{LABELS}.gz"]


def test_dead_mirror_is_skipped(serve, dead_url, monkeypatch, tmp_path):
    url, _ = serve()
    use_mirrors(monkeypatch, dead_url, url.rstrip("/"))
    images, _ = load_mnist("test", cache_dir=tmp_path, progress=False)
    assert len(images) == 10000


def test_all_mirrors_failing_is_a_clear_error(serve, dead_url, monkeypatch, tmp_path):
    corrupt_url, _ = serve("corrupt")
    truncate_url, _ = serve("truncate")
    use_mirrors(monkeypatch, corrupt_url, dead_url, truncate_url)
    with pytest.raises(DownloadError) as info:
        load_mnist("test", cache_dir=tmp_path, progress=False)
    lines = str(info.value).splitlines()
    assert lines[1:4] == [
        f"  {corrupt_url}t10k-images-idx3-ubyte.gz: checksum mismatch: md5 of the content is "
        "837ae8c45916bb432e79c8f2036e692a, not 2646ac647ad5339dbf082846283269ea",
        f"  {dead_url}t10k-images-idx3-ubyte.gz: [Errno 111] Connection refused",
        f"  {truncate_url}t10k-images-idx3-ubyte.gz: transfer cut short after 808254 of "
        "1616508 bytes",
    ]
    assert "data_dir" in lines[-1] and "--" not in lines[-1]
    assert isinstance(info.value, DataError)
    assert list(tmp_path.iterdir()) == [], "a failed download must leave no file behind"


def test_failed_download_keeps_nothing_partial(serve, tmp_path):
    url, _ = serve("truncate")
    with pytest.raises(DownloadError):
        download(f"{LABELS}.gz", MD5[LABELS], tmp_path, mirror_urls=[url])
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_keeps_nothing_partial(serve, monkeypatch, tmp_path):
    url, _ = serve()

    def interrupt(path):
        assert path.stat().st_size > 0
        raise KeyboardInterrupt

    monkeypatch.setattr("tfnn.data.fetch.gunzip_md5", interrupt)
    with pytest.raises(KeyboardInterrupt):
        download(f"{LABELS}.gz", MD5[LABELS], tmp_path, mirror_urls=[url])
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_when_asked(serve, tmp_path, capsys):
    url, _ = serve()
    download(f"{LABELS}.gz", MD5[LABELS], tmp_path, mirror_urls=[url], progress=True)
    assert LABELS in capsys.readouterr().err


def test_mirrors_from_environment(monkeypatch):
    monkeypatch.setenv("TFNN_MNIST_MIRRORS", " http://a/ , http://b/x,,")
    assert mirrors() == ["http://a/", "http://b/x"]
    monkeypatch.setenv("TFNN_MNIST_MIRRORS", "")
    assert mirrors() == list(DEFAULT_MIRRORS)


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "tfnn" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_cache_dir() == Path.home() / ".cache" / "tfnn" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "tfnn" / "mnist"
