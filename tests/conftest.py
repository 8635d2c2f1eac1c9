"""The one backend fixture: every backend usable here, skipping the rest with a reason.

Ids read ``<backend>-<device>``: ``numpy-cpu``, ``strict-cpu``, ``torch-cpu``,
``cupy-cuda0``; select one with ``pytest -k torch-cpu``. The cupy case carries the
``gpu`` marker, so ``-m 'not gpu'`` leaves it out.
"""

from __future__ import annotations

import pytest

from tfnn.backends import BackendError, get_backend

BACKEND_PARAMS = [
    pytest.param(("numpy", "cpu"), id="numpy-cpu"),
    pytest.param(("array_api_strict", "cpu"), id="strict-cpu"),
    pytest.param(("torch", "cpu"), id="torch-cpu"),
    pytest.param(("cupy", "cuda:0"), id="cupy-cuda0", marks=pytest.mark.gpu),
]


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request):
    """A Backend instance (``.xp``, ``.asarray``, ``.to_numpy``, ``.rng(seed)``, streams)."""
    name, device = request.param
    try:
        return get_backend(name, device)
    except BackendError as e:
        pytest.skip(f"{name} on {device} not usable here: {e}")


# `pytest -m smoke`: a quick loop over each layer of the tree (executor transitions and
# conformance, the op pairs, checkpoints, the strategies' bitwise identity; a few bench
# tests mark themselves), on numpy only where a test runs on every backend, without the
# simulated-device schedules (5 s of the 12). Under 10 s on the development machine.
SMOKE_MODULES = frozenset(
    {
        "test_transitions.py",
        "test_conformance.py",
        "test_functional.py",
        "test_checkpoint.py",
        "test_bitwise_identity.py",
        "test_idx.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        backend = params.params.get("backend") if params is not None else None
        quick = "asynchronous_device" not in item.name
        if item.path.name in SMOKE_MODULES and backend in (None, ("numpy", "cpu")) and quick:
            item.add_marker(pytest.mark.smoke)
