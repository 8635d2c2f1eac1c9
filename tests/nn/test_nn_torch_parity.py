"""Forward values and gradients of random MLPs against torch autograd, to float32 tolerance.

tfnn's ``W`` has torch's (out, in) layout, so weights copy over one to one; tfnn's GELU is
torch's ``GELU(approximate="tanh")``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tfnn import nn

torch = pytest.importorskip("torch", reason="torch is not installed; parity tests need it")

ACTIVATIONS = {
    "relu": (nn.ReLU, lambda: torch.nn.ReLU()),
    "tanh": (nn.Tanh, lambda: torch.nn.Tanh()),
    "sigmoid": (nn.Sigmoid, lambda: torch.nn.Sigmoid()),
    "gelu": (nn.GELU, lambda: torch.nn.GELU(approximate="tanh")),
}


def twin_mlps(backend, widths, activation, seed):
    """The same MLP in tfnn (on ``backend``) and in torch (CPU, float32)."""
    ours, theirs = ACTIVATIONS[activation]
    layers, torch_layers = [], []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(n_in, n_out))
        torch_layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(ours())
            torch_layers.append(theirs())
    model = nn.Sequential(*layers, backend=backend, seed=seed)
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        # Non-zero biases, so that bias handling is actually compared.
        p.value = backend.asarray(
            backend.to_numpy(p.value) + 0.1 * rng.standard_normal(p.value.shape),
            dtype=backend.xp.float32,
        )
    torch_model = torch.nn.Sequential(*torch_layers)
    with torch.no_grad():
        for p, tp in zip(model.parameters(), torch_model.parameters(), strict=True):
            tp.copy_(torch.from_numpy(backend.to_numpy(p.value)))
    return model, torch_model


def assert_close(backend, ours, theirs):
    np.testing.assert_allclose(
        backend.to_numpy(ours), theirs.detach().numpy(), rtol=2e-4, atol=2e-5
    )


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(
    ("widths", "batch"),
    [((7, 5), 1), ((10, 16, 4), 9), ((12, 32, 16, 8, 6), 33)],
    ids=["depth1-batch1", "depth2-batch9", "depth4-batch33"],
)
def test_mlp_cross_entropy_matches_torch(backend, activation, widths, batch):
    model, torch_model = twin_mlps(backend, widths, activation, seed=batch)
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, widths[0])).astype(np.float32)
    y = rng.integers(0, widths[-1], batch)
    xb = backend.asarray(x, dtype=backend.xp.float32)
    logits, _ = model.forward(xb)
    value, grads = nn.value_and_grad(model, nn.SoftmaxCrossEntropy(), xb, backend.asarray(y))

    tx = torch.from_numpy(x).requires_grad_(True)
    torch_logits = torch_model(tx)
    torch_value = torch.nn.functional.cross_entropy(torch_logits, torch.from_numpy(y))
    torch_value.backward()

    assert_close(backend, logits, torch_logits)
    assert value == pytest.approx(torch_value.item(), rel=1e-5, abs=1e-6)
    for g, tp in zip(grads, torch_model.parameters(), strict=True):
        assert_close(backend, g, tp.grad)


def test_mse_input_gradient_matches_torch(backend):
    model, torch_model = twin_mlps(backend, (6, 8, 3), "tanh", seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    target = rng.standard_normal((5, 3)).astype(np.float32)
    out, ctx = model.forward(backend.asarray(x, dtype=backend.xp.float32))
    value, loss_ctx = nn.MSE().forward(out, backend.asarray(target, dtype=backend.xp.float32))
    dx, grads = model.backward(ctx, nn.MSE().backward(loss_ctx))

    tx = torch.from_numpy(x).requires_grad_(True)
    torch_value = torch.nn.functional.mse_loss(torch_model(tx), torch.from_numpy(target))
    torch_value.backward()

    assert float(value) == pytest.approx(torch_value.item(), rel=1e-5)
    assert_close(backend, dx, tx.grad)
    for g, tp in zip(grads, torch_model.parameters(), strict=True):
        assert_close(backend, g, tp.grad)
