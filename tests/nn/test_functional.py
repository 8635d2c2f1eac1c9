"""Every op's backward against finite differences on every backend, plus forward values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfnn.nn import functional as F

from .gradcheck import check_backward


def away_from_zero(a: np.ndarray) -> np.ndarray:
    """Keep ReLU's kink out of reach of the finite-difference step."""
    return a + 0.1 * np.sign(a)


def linear_case(backend, rng, bias=True):
    W, b, x = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal((5, 4))

    def op(W, b, x):
        y, ctx = F.linear_forward(W, b, x)
        return y, lambda dy: (*F.linear_backward_weight(ctx, dy), F.linear_backward_input(W, dy))

    def op_no_bias(W, x):
        y, ctx = F.linear_forward(W, None, x)
        return y, lambda dy: (F.linear_backward_weight(ctx, dy)[0], F.linear_backward_input(W, dy))

    return (op, [W, b, x]) if bias else (op_no_bias, [W, x])


def activation_case(forward, backward, scale=1.0, kink=False):
    def make(backend, rng):
        x = scale * rng.standard_normal((4, 5))

        def op(x):
            y, ctx = forward(x)
            return y, lambda dy: (backward(ctx, dy),)

        return op, [away_from_zero(x) if kink else x]

    return make


def dropout_case(backend, rng):
    mask = backend.asarray((rng.uniform(size=(4, 5)) >= 0.3) / 0.7, dtype=backend.xp.float64)

    def op(x):
        y, ctx = F.dropout_forward(x, mask)
        return y, lambda dy: (F.dropout_backward(ctx, dy),)

    return op, [rng.standard_normal((4, 5))]


def cross_entropy_case(backend, rng):
    labels = backend.asarray(np.array([0, 3, 1, 3, 2, 0]))

    def op(logits):
        value, ctx = F.softmax_cross_entropy_forward(logits, labels)
        return value, lambda dv: (dv * F.softmax_cross_entropy_backward(ctx),)

    return op, [3.0 * rng.standard_normal((6, 4))]


def mse_case(backend, rng):
    target = backend.asarray(rng.standard_normal((6, 3)), dtype=backend.xp.float64)

    def op(y):
        value, ctx = F.mse_forward(y, target)
        return value, lambda dv: (dv * F.mse_backward(ctx),)

    return op, [rng.standard_normal((6, 3))]


CASES = {
    "linear": linear_case,
    "linear-no-bias": lambda backend, rng: linear_case(backend, rng, bias=False),
    "relu": activation_case(F.relu_forward, F.relu_backward, kink=True),
    "tanh": activation_case(F.tanh_forward, F.tanh_backward),
    "sigmoid": activation_case(F.sigmoid_forward, F.sigmoid_backward, scale=4.0),
    "gelu": activation_case(F.gelu_forward, F.gelu_backward, scale=2.0),
    "dropout": dropout_case,
    "softmax-cross-entropy": cross_entropy_case,
    "mse": mse_case,
}


@pytest.mark.parametrize("case", CASES)
def test_backward_matches_finite_differences(backend, case):
    op, inputs = CASES[case](backend, np.random.default_rng(42))
    check_backward(backend, op, inputs)


def reference_forward(name: str, x: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x**3)))


# Float64 error budgets in units of the double epsilon (2.2e-16), for |x| <= 6: CUDA's
# tanh and exp are within 2 ulps (numpy's within 1), and each op adds a few roundings, so 8
# ulps relative. GELU's 1 + tanh(.) cancels for x << 0 (about 3e-11 at x = -6): one ulp of
# tanh there is a relative error near 1e-5, so its budget is absolute: 8 ulps of 1 times
# 0.5|x| <= 3 (torch's tanh is 1 ulp off numpy's there; measured).
ULP = float(np.finfo(np.float64).eps)
TOLERANCE = {  # name -> (rtol, atol)
    "relu": (0.0, 0.0),
    "tanh": (8 * ULP, 0.0),
    "sigmoid": (8 * ULP, 0.0),
    "gelu": (8 * ULP, 8 * ULP * 3.0),
}


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "gelu"])
def test_activation_values(backend, name):
    x = np.linspace(-6.0, 6.0, 25)
    y, _ = getattr(F, f"{name}_forward")(backend.asarray(x, dtype=backend.xp.float64))
    rtol, atol = TOLERANCE[name]
    np.testing.assert_allclose(
        backend.to_numpy(y), reference_forward(name, x), rtol=rtol, atol=atol
    )


def test_sigmoid_saturates_without_overflow(backend):
    x = backend.asarray(np.array([-1000.0, -80.0, 0.0, 80.0, 1000.0]), dtype=backend.xp.float32)
    y, _ = F.sigmoid_forward(x)
    np.testing.assert_allclose(backend.to_numpy(y), [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-30)


def test_cross_entropy_is_stable_for_huge_logits(backend):
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4 - 1.0]], dtype=np.float32)
    labels = np.array([0, 2])
    value, ctx = F.softmax_cross_entropy_forward(backend.asarray(logits), backend.asarray(labels))
    expected = np.log1p(np.exp(-1.0)) + 1.0  # row 0 loses nothing; row 1 is 1 + log(1 + e^-1)
    assert float(value) == pytest.approx(expected / 2.0, rel=1e-5)
    assert np.all(np.isfinite(backend.to_numpy(F.softmax_cross_entropy_backward(ctx))))


def test_cross_entropy_matches_log_softmax(backend):
    rng = np.random.default_rng(3)
    logits, labels = rng.standard_normal((8, 5)), rng.integers(0, 5, 8)
    value, _ = F.softmax_cross_entropy_forward(
        backend.asarray(logits, dtype=backend.xp.float64), backend.asarray(labels)
    )
    log_p = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    assert float(value) == pytest.approx(-np.mean(log_p[np.arange(8), labels]), rel=1e-12)


def test_dropout_mask_keeps_one_minus_p_scaled(backend):
    like = backend.asarray(np.zeros((200, 50), dtype=np.float32))
    mask = backend.to_numpy(F.dropout_mask(backend.rng(0), like.shape, 0.25, like=like))
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, np.float32(1.0 / 0.75)}
    assert np.mean(mask != 0.0) == pytest.approx(0.75, abs=0.02)
    again = backend.to_numpy(F.dropout_mask(backend.rng(0), like.shape, 0.25, like=like))
    np.testing.assert_array_equal(mask, again)


def test_accuracy(backend):
    logits = backend.asarray(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]))
    labels = backend.asarray(np.array([1, 0, 0, 0], dtype=np.uint8))
    assert F.accuracy(logits, labels) == 0.75
