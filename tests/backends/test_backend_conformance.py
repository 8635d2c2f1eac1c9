"""The backend contract, run for every backend the ``backend`` fixture yields."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn.backends import BackendError, check_same_device, parse_device


class TestBackendConformance:
    def test_names_its_device(self, backend):
        assert parse_device(backend.device).kind in ("cpu", "cuda")

    def test_asarray_keeps_the_requested_dtype(self, backend):
        xp = backend.xp
        a = backend.asarray([[1.0, 2.0], [3.0, 4.0]], dtype=xp.float32)
        assert a.dtype == xp.float32
        assert a.shape == (2, 2)

    def test_asarray_infers_dtypes_as_numpy_does(self, backend):
        xp = backend.xp
        assert backend.asarray([1.0, 2.0]).dtype == xp.float64
        assert backend.asarray([1, 2]).dtype == xp.int64

    def test_float32_stays_float32_with_python_scalars(self, backend):
        xp = backend.xp
        a = backend.asarray([0.5, 1.5], dtype=xp.float32)
        for result in (a * 2.0, a + 1, 0.5 - a, a / 3.0, xp.exp(a) * 1.5, xp.sum(a) * 0.1):
            assert result.dtype == xp.float32

    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
    def test_numpy_round_trip(self, backend, dtype):
        x = np.arange(12, dtype=dtype).reshape(3, 4)
        back = backend.to_numpy(backend.asarray(x))
        assert isinstance(back, np.ndarray)
        assert back.dtype == dtype
        np.testing.assert_array_equal(back, x)

    def test_asarray_takes_reversed_and_read_only_arrays(self, backend):
        reversed_ = np.arange(5.0)[::-1]
        read_only = np.arange(5.0)
        read_only.flags.writeable = False
        for x in (reversed_, read_only):
            np.testing.assert_array_equal(backend.to_numpy(backend.asarray(x)), x)

    def test_asarray_of_own_array_converts_dtype(self, backend):
        xp = backend.xp
        a = backend.asarray([1.5, 2.5], dtype=xp.float64)
        assert backend.asarray(a, dtype=xp.float32).dtype == xp.float32

    def test_rng_same_seed_gives_same_arrays(self, backend):
        first, second = backend.rng(7), backend.rng(7)
        for draw in (
            lambda g: g.normal((3, 4)),
            lambda g: g.uniform((5,), -1.0, 1.0),
            lambda g: g.permutation(10),
        ):
            np.testing.assert_array_equal(
                backend.to_numpy(draw(first)), backend.to_numpy(draw(second))
            )

    def test_rng_different_seeds_give_different_arrays(self, backend):
        a = backend.to_numpy(backend.rng(1).normal((16,)))
        b = backend.to_numpy(backend.rng(2).normal((16,)))
        assert not np.array_equal(a, b)

    def test_rng_dtypes_and_range(self, backend):
        xp = backend.xp
        rng = backend.rng(0)
        assert rng.normal((2, 3)).dtype == xp.float32
        assert rng.normal((2, 3), dtype=xp.float64).dtype == xp.float64
        u = backend.to_numpy(rng.uniform((1000,), 2.0, 3.0))
        assert u.dtype == np.float32
        assert u.min() >= 2.0 and u.max() <= 3.0

    def test_permutation_is_a_permutation(self, backend):
        p = backend.to_numpy(backend.rng(3).permutation(1000))
        np.testing.assert_array_equal(np.sort(p), np.arange(1000))
        assert not np.array_equal(p, np.arange(1000))

    def test_stream_pool_orders_work_across_streams(self, backend):
        xp = backend.xp
        pool = backend.stream_pool(3)
        assert len(pool.streams) == 3
        first, second = pool.streams[0], pool.streams[1]
        x = backend.asarray(np.full((64, 64), 2.0, dtype=np.float32))
        y = first.launch(lambda: xp.matmul(x, x))
        produced = first.record()
        second.wait(produced)
        z = second.launch(lambda: y[0, :4] + 1.0)
        consumed = second.record()
        first.keep_alive(y, consumed)
        consumed.synchronize()
        assert consumed.query() and produced.query()
        np.testing.assert_array_equal(backend.to_numpy(z), np.full(4, 257.0, dtype=np.float32))
        for stream in pool.streams:
            stream.synchronize()
        backend.synchronize()

    def test_launch_returns_what_fn_returns(self, backend):
        stream = backend.stream_pool(1).streams[0]
        assert stream.launch(lambda: "value") == "value"

    @pytest.mark.parametrize("size", [0, -1, 1.5])
    def test_stream_pool_needs_a_positive_size(self, backend, size):
        with pytest.raises(BackendError, match="stream pool"):
            backend.stream_pool(size)

    def test_limit_threads_returns_the_previous_cap_for_restoring(self, backend):
        previous = backend.limit_threads(2)
        try:
            if backend.name == "torch":
                import torch

                assert backend.limit_threads(1) == 2
                assert torch.get_num_threads() == 1
            else:  # nothing per thread to cap: the answer is the request
                assert backend.limit_threads(1) == 1
        finally:
            backend.limit_threads(previous)

    def test_memory_info(self, backend):
        info = backend.memory_info()
        if parse_device(backend.device).kind == "cpu":
            assert info is None
        else:
            assert 0 <= info.free <= info.total

    def test_same_device_check_accepts_its_own_arrays(self, backend):
        xp = backend.xp
        a = backend.asarray([1.0], dtype=xp.float32)
        b = backend.rng(0).normal((1,))
        assert check_same_device(a, b, 2.0) is xp
