"""Layers and Sequential: parameters, initialisation, the per-layer contract, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn import nn

from .gradcheck import check_backward


def mlp(backend, dtype=None, seed=0, dropout=0.0):
    return nn.Sequential(
        nn.Linear(4, 6),
        nn.Tanh(),
        nn.Linear(6, 5, init="xavier"),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(5, 5, bias=False),
        nn.Sigmoid(),
        nn.Linear(5, 3),
        nn.ReLU(),
        backend=backend,
        seed=seed,
        dtype=dtype,
    )


def test_parameter_names_and_order(backend):
    model = mlp(backend)
    names = [p.name for p in model.parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "7.weight", "7.bias"]
    assert [list(model.parameter_indices(i)) for i in (0, 1, 5, 7)] == [[0, 1], [], [4], [5, 6]]
    assert tuple(model.parameters()[0].value.shape) == (6, 4)


def test_end_to_end_gradients_match_finite_differences(backend):
    """A whole Sequential with every layer kind, input and all parameters, plus the loss."""
    model = mlp(backend, dtype=backend.xp.float64, dropout=0.4)
    params = model.parameters()
    rng = np.random.default_rng(1)
    labels = backend.asarray(np.array([0, 2, 1, 2, 0]))
    loss = nn.SoftmaxCrossEntropy()

    def op(x, *values):
        for p, v in zip(params, values, strict=True):
            p.value = v
        # The same seed each call, so every evaluation sees the same dropout mask.
        out, ctx = model.forward(x, training=True, rng=backend.rng(7))
        value, loss_ctx = loss.forward(out, labels)

        def backward(dv):
            dx, grads = model.backward(ctx, dv * loss.backward(loss_ctx))
            return (dx, *grads)

        return value, backward

    start = [backend.to_numpy(p.value) for p in params]
    check_backward(backend, op, [rng.standard_normal((5, 4)), *start])


def test_value_and_grad_is_forward_loss_backward(backend):
    model = mlp(backend, dtype=backend.xp.float64, dropout=0.3)
    rng = np.random.default_rng(2)
    x = backend.asarray(rng.standard_normal((7, 4)), dtype=backend.xp.float64)
    y = backend.asarray(rng.integers(0, 3, 7))
    loss = nn.SoftmaxCrossEntropy()
    value, grads = nn.value_and_grad(model, loss, x, y, rng=backend.rng(5))
    out, ctx = model.forward(x, training=True, rng=backend.rng(5))
    expected_value, loss_ctx = loss.forward(out, y)
    _, expected = model.backward(ctx, loss.backward(loss_ctx))
    assert isinstance(value, float)
    assert value == float(expected_value)
    assert len(grads) == len(model.parameters())
    for g, e in zip(grads, expected, strict=True):
        np.testing.assert_array_equal(backend.to_numpy(g), backend.to_numpy(e))


def test_per_layer_calls_equal_backward(backend):
    """The split a training graph uses: backward_input and backward_weight per layer."""
    model = mlp(backend)
    x = backend.asarray(np.random.default_rng(3).standard_normal((6, 4)), dtype=backend.xp.float32)
    out, ctx = model.forward(x)
    dy = out * 0.5
    dx, grads = model.backward(ctx, dy)
    split: list = []
    for layer, layer_ctx in zip(reversed(model.layers), reversed(ctx), strict=True):
        split[:0] = layer.backward_weight(layer_ctx, dy)
        dy = layer.backward_input(layer_ctx, dy)
    np.testing.assert_array_equal(backend.to_numpy(dx), backend.to_numpy(dy))
    for a, b in zip(grads, split, strict=True):
        np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b))
    np.testing.assert_array_equal(
        backend.to_numpy(model.backward_input(ctx, out * 0.5)), backend.to_numpy(dx)
    )
    assert len(model.backward_weight(ctx, out * 0.5)) == len(grads)


def test_backward_input_uses_the_weight_forward_saw(backend):
    """An update may land between forward and backward_input of the same layer."""
    layer = nn.Linear(3, 2).initialize(backend, seed=0)
    x = backend.asarray(np.ones((4, 3), dtype=np.float32))
    dy = backend.asarray(np.ones((4, 2), dtype=np.float32))
    _, ctx = layer.forward(x)
    before = backend.to_numpy(layer.backward_input(ctx, dy))
    layer.weight.value = layer.weight.value * 3.0
    np.testing.assert_array_equal(backend.to_numpy(layer.backward_input(ctx, dy)), before)


def test_initialisation_is_deterministic_and_scaled(backend):
    a, b, c = (
        nn.Sequential(
            nn.Linear(400, 300), nn.Linear(300, 200, init="xavier"), backend=backend, seed=s
        )
        for s in (3, 3, 4)
    )
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(backend.to_numpy(pa.value), backend.to_numpy(pb.value))
    assert not np.array_equal(
        backend.to_numpy(a.parameters()[0].value), backend.to_numpy(c.parameters()[0].value)
    )
    he, bias, xavier, _ = (backend.to_numpy(p.value) for p in a.parameters())
    assert he.dtype == np.float32
    assert np.std(he) == pytest.approx(np.sqrt(2.0 / 400), rel=0.02)
    np.testing.assert_array_equal(bias, np.zeros(300, dtype=np.float32))
    limit = np.sqrt(6.0 / 500)
    assert np.max(np.abs(xavier)) <= limit
    assert np.std(xavier) == pytest.approx(limit / np.sqrt(3.0), rel=0.02)


def test_initialize_switches_dtype(backend):
    model = mlp(backend)
    model.initialize(backend, seed=0, dtype=backend.xp.float64)
    assert all(backend.to_numpy(p.value).dtype == np.float64 for p in model.parameters())


def test_state_dict_round_trip(backend):
    model, other = mlp(backend, seed=0), mlp(backend, seed=1)
    state = model.state_dict()
    assert list(state) == [p.name for p in model.parameters()]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    other.load_state_dict(state)
    x = backend.asarray(np.random.default_rng(0).standard_normal((3, 4)), dtype=backend.xp.float32)
    np.testing.assert_array_equal(
        backend.to_numpy(model.predict(x)), backend.to_numpy(other.predict(x))
    )
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({k: v for k, v in state.items() if k != "0.bias"})
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict({**state, "0.bias": np.zeros(7, dtype=np.float32)})


def test_dropout_modes(backend):
    x = backend.asarray(np.ones((50, 40), dtype=np.float32))
    drop = nn.Dropout(0.5)
    y, ctx = drop.forward(x)
    assert y is x and drop.backward_input(ctx, x) is x
    y, ctx = drop.forward(x, training=True, rng=backend.rng(0))
    kept = backend.to_numpy(y) != 0.0
    assert np.mean(kept) == pytest.approx(0.5, abs=0.05)
    np.testing.assert_array_equal(backend.to_numpy(y)[kept], 2.0)
    np.testing.assert_array_equal(backend.to_numpy(drop.backward_input(ctx, x)) != 0.0, kept)
    with pytest.raises(ValueError, match="rng"):
        drop.forward(x, training=True)
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.0)


def test_user_errors_say_what_to_do():
    with pytest.raises(RuntimeError, match="initialize"):
        nn.Linear(2, 2).forward(None)
    with pytest.raises(RuntimeError, match="initialize"):
        nn.Linear(2, 2).state_dict()
    with pytest.raises(ValueError, match="init must be one of"):
        nn.Linear(2, 2, init="orthogonal")


def test_default_model_is_numpy_float32_and_trains():
    from tfnn import optim

    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    y = np.argmax(x[:, :3], axis=1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    first = None
    for _ in range(50):
        value, grads = nn.value_and_grad(model, nn.SoftmaxCrossEntropy(), x, y)
        first = value if first is None else first
        for p, g in zip(model.parameters(), grads, strict=True):
            p.grad = g
        opt.step()
    assert value < 0.2 * first
    assert nn.accuracy(model.predict(x), y) > 0.9
