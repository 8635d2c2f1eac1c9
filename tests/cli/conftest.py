"""Run ``python -m tfnn`` in a subprocess, as a user would, away from the caller's settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def tfnn_env() -> dict[str, str]:
    """The environment without the TFNN_* variables that would pick other data or devices."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFNN_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def tfnn(tmp_path):
    """``tfnn("train", "--epochs", "1", env={...})`` runs the CLI in ``tmp_path``, with
    ``env`` added to the environment; returns the result."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tfnn", *args],
            cwd=tmp_path,
            env={**tfnn_env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run
