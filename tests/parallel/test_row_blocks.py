"""A large layer sent in blocks of rows: each block's exchange starts as it is computed and
its update runs as soon as it arrives, with the same weights as the layer sent whole."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tfnn import nn, optim
from tfnn.backends import get_backend
from tfnn.nn.parameter import Parameter
from tfnn.parallel import DataParallel, ThreadGroup
from tfnn.parallel.reducer import plan_buckets
from tfnn.train import Trainer


def test_a_split_layer_gets_a_bucket_per_block_in_its_place():
    sizes = {0: 800, 2: 130, 4: 40, 6: 30}
    buckets, rows = plan_buckets(sizes, 100, {2: [(0, 3), (3, 6)]})
    assert buckets == [(6, 4), (2,), (2,), (0,)]
    assert rows == {1: (0, 3), 2: (3, 6)}
    assert plan_buckets(sizes, None, {0: [(0, 8), (8, 16)]}) == (
        [(6, 4, 2), (0,), (0,)],
        {1: (0, 8), 2: (8, 16)},
    )


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (optim.SGD, {"lr": 0.1}),
        (optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
        (optim.Adam, {"lr": 0.01}),
    ],
)
def test_an_update_by_row_blocks_is_the_whole_update(cls, kwargs):
    rng = np.random.default_rng(0)
    start = rng.standard_normal((6, 3)).astype(np.float32)
    whole, blocks = Parameter("w"), Parameter("w")
    whole.value, blocks.value = start.copy(), start.copy()
    a, b = cls([whole], **kwargs), cls([blocks], **kwargs)
    for _ in range(3):
        g = rng.standard_normal((6, 3)).astype(np.float32)
        whole.grad = g
        a.step_param(0)
        old = blocks.value
        b.step_param_rows(0, 0, 4, g[:4])
        assert blocks.value is old  # published only after the last block
        b.step_param_rows(0, 4, 6, g[4:])
        np.testing.assert_array_equal(blocks.value, whole.value)
        for name in a.state[0]:
            np.testing.assert_array_equal(b.state[0][name], a.state[0][name])
    assert a.steps == b.steps == [3]


def test_row_gradients_are_those_rows_of_the_layers_gradient():
    layer = nn.Linear(20, 12)
    layer.initialize(get_backend("numpy"), seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 20)).astype(np.float32)
    _, ctx = layer.forward(x)
    dy = rng.standard_normal((8, 12)).astype(np.float32)
    dW, db = layer.backward_weight(ctx, dy)
    part = layer.backward_weight_rows(ctx, dy, 4, 9)
    np.testing.assert_allclose(part[0], dW[4:9], rtol=1e-6)
    np.testing.assert_allclose(part[1], db[4:9], rtol=1e-6)


def _fit_two_ranks(strategy, block_bytes):
    group = ThreadGroup(2)
    out, reducers = {}, {}

    def rank(r):
        model = nn.mlp([20, 32, 16, 4], backend=get_backend("numpy"), seed=1)
        dp = DataParallel(group.members[r], overlap=True, block_bytes=block_bytes)
        trainer = Trainer(
            model,
            nn.SoftmaxCrossEntropy(),
            optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
            strategy=strategy,
            workers=1,
            distributed=dp,
        )
        rng = np.random.default_rng(0)
        x, y = rng.random((96, 20), np.float32), rng.integers(0, 4, 96)
        trainer.fit(x, y, epochs=2, batch_size=32, seed=0)
        out[r] = {k: np.asarray(v) for k, v in model.state_dict().items()}
        reducers[r] = dp.last_reducer

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(out) == [0, 1]
    return out, reducers


@pytest.mark.parametrize("strategy", ["condition", "sequential", "two-graph", "unrolled"])
def test_two_ranks_train_the_same_weights_with_the_first_layer_in_blocks(strategy):
    whole, whole_reducers = _fit_two_ranks(strategy, None)
    split, reducers = _fit_two_ranks(strategy, 1000)
    # Layer 0: 2,688 bytes over 1,000, three blocks of its 32 rows; layer 2: 2,112 bytes,
    # three blocks of 16 rows; the top layer (272 bytes) is sent whole, first.
    assert reducers[0].pieces_of == {2: [1, 2, 3], 0: [4, 5, 6]}
    assert not whole_reducers[0].pieces_of
    assert [reducers[0].rows_of[b] for b in (1, 2, 3)] == [(0, 5), (5, 10), (10, 16)]
    assert [reducers[0].rows_of[b] for b in (4, 5, 6)] == [(0, 10), (10, 21), (21, 32)]
    for r in (0, 1):
        for name, value in whole[r].items():
            np.testing.assert_array_equal(split[r][name], value)
    for name, value in split[0].items():
        np.testing.assert_array_equal(split[1][name], value)
