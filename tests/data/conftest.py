"""Shared fixtures for the data tests: the official MNIST folder and an isolated environment."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


@pytest.fixture
def shared_mnist() -> Path:
    """The official MNIST IDX files beside the checkout (``../shared/data/mnist``)."""
    if not (SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"the official MNIST files are not in {SHARED_MNIST.resolve()}")
    return SHARED_MNIST


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No test reads the user's cache or data dir, and none reaches the internet."""
    monkeypatch.delenv("TFNN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("TFNN_MNIST_MIRRORS", "http://127.0.0.1:9/unreachable/")
