"""Fixtures shared by the benchmark tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the benchmark starts any work."""

    def started(*args, **kwargs):
        raise AssertionError("the benchmark started work before refusing its input")

    monkeypatch.setattr("tfnn.bench.contenders.contenders_for", started)
    monkeypatch.setattr("tfnn.bench.workload.load_data", started)
