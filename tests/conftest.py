"""The one backend fixture: every backend usable here, skipping the rest with a reason."""

from __future__ import annotations

import pytest

from tfnn.backends import BackendError, get_backend

BACKEND_PARAMS = [
    pytest.param(("numpy", "cpu"), id="numpy-cpu"),
    pytest.param(("array_api_strict", "cpu"), id="strict-cpu"),
]


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request):
    """A Backend instance (``.xp``, ``.asarray``, ``.to_numpy``, ``.rng(seed)``)."""
    name, device = request.param
    try:
        return get_backend(name, device)
    except BackendError as e:
        pytest.skip(f"{name} on {device} not usable here: {e}")
