"""One helper that gradient-checks any forward/backward pair on any backend (after Chainer's
``check_backward``): analytic gradients against central finite differences, in float64.

``op(*xs) -> (y, backward)`` where ``backward(dy)`` returns one gradient per input. The check
contracts ``y`` with a fixed random ``dy``, so ``L(xs) = sum(y * dy)`` and every analytic
gradient must match ``(L(x + eps) - L(x - eps)) / (2 eps)`` element by element.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Op = Callable[..., tuple[Any, Callable[[Any], Sequence[Any]]]]


def check_backward(
    backend: Any,
    op: Op,
    inputs: Sequence[np.ndarray],
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> None:
    """Assert that ``op``'s backward matches finite differences for every input element."""
    f64 = backend.xp.float64
    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]

    def run(arrays: Sequence[np.ndarray]) -> tuple[Any, Callable[[Any], Sequence[Any]]]:
        return op(*[backend.asarray(a, dtype=f64) for a in arrays])

    y, backward = run(inputs)
    dy = np.random.default_rng(seed).standard_normal(backend.to_numpy(y).shape)
    analytic = backward(backend.asarray(dy, dtype=f64))
    assert len(analytic) == len(inputs), "backward must return one gradient per input"

    def contracted(arrays: Sequence[np.ndarray]) -> float:
        return float(np.sum(backend.to_numpy(run(arrays)[0]) * dy))

    for k, x in enumerate(inputs):
        got = backend.to_numpy(analytic[k])
        assert got.dtype == np.float64, f"gradient {k} is {got.dtype}, not float64"
        assert got.shape == x.shape, f"gradient {k} has shape {got.shape}, not {x.shape}"
        numeric = np.empty_like(x)
        for idx in np.ndindex(x.shape):
            shifted = list(inputs)
            shifted[k] = x.copy()
            shifted[k][idx] = x[idx] + eps
            up = contracted(shifted)
            shifted[k][idx] = x[idx] - eps
            down = contracted(shifted)
            numeric[idx] = (up - down) / (2.0 * eps)
        np.testing.assert_allclose(got, numeric, rtol=rtol, atol=atol, err_msg=f"input {k}")
