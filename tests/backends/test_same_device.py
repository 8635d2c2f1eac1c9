"""One operation, one backend, one device: ``check_same_device`` names both sides."""

from __future__ import annotations

import pytest

from tfnn.backends import BackendError, check_same_device, get_backend


def test_two_fake_devices_are_refused():
    here = get_backend("array_api_strict", "cpu").asarray([1.0])
    there = get_backend("array_api_strict", "cpu:1").asarray([1.0])
    with pytest.raises(BackendError, match="devices") as info:
        check_same_device(here, there)
    assert "CPU_DEVICE" in str(info.value) and "device1" in str(info.value)


def test_one_fake_device_is_fine():
    backend = get_backend("array_api_strict", "cpu:2")
    a, b = backend.asarray([1.0]), backend.rng(0).normal((1,))
    assert check_same_device(a, b) is backend.xp


@pytest.mark.parametrize("other", ["array_api_strict", "torch"])
def test_two_backends_are_refused(other):
    if other == "torch":
        pytest.importorskip("torch")
    mine = get_backend("numpy").asarray([1.0])
    theirs = get_backend(other, "cpu").asarray([1.0])
    with pytest.raises(BackendError, match=f"mixes a numpy array with a {other} array"):
        check_same_device(mine, theirs)


def test_scalars_are_ignored_but_an_array_is_needed():
    assert check_same_device(get_backend("numpy").asarray([1.0]), 2.0, None) is not None
    with pytest.raises(BackendError, match="at least one array"):
        check_same_device(1.0, None)


def test_asarray_moves_an_array_to_its_backends_device():
    there = get_backend("array_api_strict", "cpu:1").asarray([1.0])
    backend = get_backend("array_api_strict", "cpu")
    assert check_same_device(backend.asarray(there), backend.asarray([2.0])) is backend.xp
