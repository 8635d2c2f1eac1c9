"""Optimizer behaviour on every backend: one parameter at a time, state, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfnn import optim
from tfnn.nn import Parameter

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.01),
    "adamw": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.01, decoupled=True),
}


def make_params(backend, seed=0):
    rng = np.random.default_rng(seed)
    return [
        Parameter(name, backend.asarray(rng.standard_normal(shape), dtype=backend.xp.float32))
        for name, shape in (("0.weight", (3, 2)), ("0.bias", (3,)), ("1.weight", (2, 3)))
    ]


def set_grads(backend, params, seed):
    rng = np.random.default_rng(seed)
    for p in params:
        p.grad = backend.asarray(rng.standard_normal(p.value.shape), dtype=backend.xp.float32)


def values(backend, params):
    return [backend.to_numpy(p.value).copy() for p in params]


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_step_param_updates_one_parameter(backend, kind):
    params = make_params(backend)
    opt = OPTIMIZERS[kind](params)
    set_grads(backend, params, seed=1)
    before = values(backend, params)
    old_array = params[1].value
    opt.step_param(1)
    after = values(backend, params)
    assert not np.array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[2], before[2])
    assert opt.steps == [0, 1, 0]
    # A task still reading the old weights must see them unchanged.
    np.testing.assert_array_equal(backend.to_numpy(old_array), before[1])


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_step_equals_step_param_for_each(backend, kind):
    a, b = make_params(backend), make_params(backend)
    opt_a, opt_b = OPTIMIZERS[kind](a), OPTIMIZERS[kind](b)
    for seed in range(3):
        set_grads(backend, a, seed)
        set_grads(backend, b, seed)
        opt_a.step()
        for i in reversed(range(len(b))):
            opt_b.step_param(i)
    for x, y in zip(values(backend, a), values(backend, b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_parameter_without_grad_is_skipped(backend):
    params = make_params(backend)
    opt = optim.Adam(params)
    before = values(backend, params)
    opt.step()
    assert opt.steps == [0, 0, 0]
    for x, y in zip(values(backend, params), before, strict=True):
        np.testing.assert_array_equal(x, y)
    set_grads(backend, params, seed=0)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_first_steps_by_hand(backend):
    w = Parameter("w", backend.asarray(np.array([1.0, -2.0], dtype=np.float32)))
    w.grad = backend.asarray(np.array([0.5, 4.0], dtype=np.float32))
    optim.SGD([w], lr=0.1).step()
    np.testing.assert_allclose(backend.to_numpy(w.value), [0.95, -2.4], rtol=1e-6)
    # Adam's first bias-corrected step moves each weight by lr * sign(grad).
    optim.Adam([w], lr=0.01).step()
    np.testing.assert_allclose(backend.to_numpy(w.value), [0.94, -2.41], rtol=1e-6)


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_state_dict_round_trip(backend, kind):
    a, b = make_params(backend), make_params(backend)
    opt_a = OPTIMIZERS[kind](a)
    for seed in range(2):
        set_grads(backend, a, seed)
        opt_a.step()
    arrays, meta = opt_a.state_dict()
    meta = json.loads(json.dumps(meta))
    arrays = {k: backend.to_numpy(v) for k, v in arrays.items()}
    for p, v in zip(b, values(backend, a), strict=True):
        p.value = backend.asarray(v)
    opt_b = OPTIMIZERS[kind](b)
    opt_b.lr = 123.0
    opt_b.load_state_dict(arrays, meta)
    assert opt_b.lr == opt_a.lr and opt_b.steps == opt_a.steps
    for seed in range(2, 4):
        set_grads(backend, a, seed)
        set_grads(backend, b, seed)
        opt_a.step()
        opt_b.step()
    for x, y in zip(values(backend, a), values(backend, b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_load_state_dict_refuses_a_different_optimizer(backend):
    params = make_params(backend)
    arrays, meta = optim.SGD(params, lr=0.1).state_dict()
    with pytest.raises(ValueError, match="state is for SGD"):
        optim.Adam(params).load_state_dict(arrays, meta)


def test_bad_arguments():
    p = [Parameter("w")]
    with pytest.raises(ValueError, match="no parameters"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="non-negative"):
        optim.SGD(p, lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(p, betas=(0.9, 1.0))
