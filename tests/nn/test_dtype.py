"""No silent promotion: parameters, activations, gradients and optimizer state keep their
dtype through forward, backward and both optimizers (array-api-strict rejects the numpy
float64 scalars that would promote float32 arrays under NumPy 2)."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn import nn, optim

# Hyperparameters as numpy float64 scalars on purpose: they must not leak into the arrays.
lr, decay = np.float64(0.1), np.float64(1e-2)
OPTIMIZERS = [
    lambda ps: optim.SGD(ps, lr=lr, momentum=np.float64(0.9), weight_decay=decay, nesterov=True),
    lambda ps: optim.Adam(ps, lr=lr, betas=(np.float64(0.9), 0.99), weight_decay=decay),
    lambda ps: optim.Adam(ps, lr=lr, weight_decay=decay, eps=np.float64(1e-8), decoupled=True),
]


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("make_opt", OPTIMIZERS, ids=["sgd", "adam", "adamw"])
def test_dtype_is_kept(backend, dtype_name, make_opt):
    dtype = getattr(backend.xp, dtype_name)
    model = nn.Sequential(
        nn.Linear(6, 8), nn.GELU(), nn.Dropout(0.2), nn.Linear(8, 8, init="xavier"), nn.Sigmoid(),
        nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 3),
        backend=backend, dtype=dtype,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    x = backend.asarray(rng.standard_normal((5, 6)), dtype=dtype)
    y = backend.asarray(rng.integers(0, 3, 5))
    opt = make_opt(model.parameters())
    for step in range(2):
        out, ctx = model.forward(x, training=True, rng=backend.rng(step))
        assert out.dtype == dtype
        value, loss_ctx = nn.SoftmaxCrossEntropy().forward(out, y)
        assert value.dtype == dtype
        dx, grads = model.backward(ctx, nn.SoftmaxCrossEntropy().backward(loss_ctx))
        assert dx.dtype == dtype
        for p, g in zip(model.parameters(), grads, strict=True):
            assert g.dtype == dtype
            p.grad = g
        opt.step()
        assert all(p.value.dtype == dtype for p in model.parameters())
        assert all(a.dtype == dtype for a in opt.state_dict()[0].values())
    mse, _ = nn.MSE().forward(out, out * 0.5)
    assert mse.dtype == dtype
