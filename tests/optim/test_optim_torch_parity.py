"""Optimizer steps against torch.optim.SGD / Adam / AdamW, several steps, float32."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn import optim
from tfnn.nn import Parameter

torch = pytest.importorskip("torch", reason="torch is not installed; parity tests need it")

SGD_CONFIGS = [
    pytest.param({"lr": 0.1}, id="plain"),
    pytest.param({"lr": 0.1, "momentum": 0.9}, id="momentum"),
    pytest.param({"lr": 0.05, "momentum": 0.9, "nesterov": True}, id="nesterov"),
    pytest.param({"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01}, id="momentum-decay"),
    pytest.param(
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}, id="nesterov-decay"
    ),
]
ADAM_CONFIGS = [
    pytest.param({"lr": 1e-2}, torch.optim.Adam, id="adam"),
    pytest.param({"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6}, torch.optim.Adam, id="betas"),
    pytest.param({"lr": 1e-2, "weight_decay": 0.1}, torch.optim.Adam, id="adam-l2"),
    pytest.param(
        {"lr": 1e-2, "weight_decay": 0.1, "decoupled": True}, torch.optim.AdamW, id="adamw"
    ),
]


def run_both(backend, make_ours, make_theirs, steps=6):
    rng = np.random.default_rng(0)
    shapes = [(4, 3), (4,)]
    start = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    params = [
        Parameter(f"p{i}", backend.asarray(a, dtype=backend.xp.float32))
        for i, a in enumerate(start)
    ]
    torch_params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in start]
    ours, theirs = make_ours(params), make_theirs(torch_params)
    for _ in range(steps):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for p, tp, g in zip(params, torch_params, grads, strict=True):
            p.grad = backend.asarray(g, dtype=backend.xp.float32)
            tp.grad = torch.from_numpy(g)
        ours.step()
        theirs.step()
        for p, tp in zip(params, torch_params, strict=True):
            np.testing.assert_allclose(
                backend.to_numpy(p.value), tp.detach().numpy(), rtol=1e-5, atol=1e-6
            )


@pytest.mark.parametrize("config", SGD_CONFIGS)
def test_sgd_matches_torch(backend, config):
    run_both(
        backend,
        lambda ps: optim.SGD(ps, **config),
        lambda ps: torch.optim.SGD(ps, **config),
    )


@pytest.mark.parametrize(("config", "torch_class"), ADAM_CONFIGS)
def test_adam_matches_torch(backend, config, torch_class):
    torch_config = {k: v for k, v in config.items() if k != "decoupled"}
    run_both(
        backend,
        lambda ps: optim.Adam(ps, **config),
        lambda ps: torch_class(ps, **torch_config),
    )
