"""``nn.mlp`` builds the Linear/activation stack from sizes, bitwise like a hand-built one."""

from __future__ import annotations

import numpy as np
import pytest

from tfnn import nn
from tfnn.nn.mlp import ACTIVATIONS


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_is_the_hand_built_sequential(activation):
    kind = ACTIVATIONS[activation]
    built = nn.mlp([5, 4, 3, 2], activation, seed=7)
    by_hand = nn.Sequential(
        nn.Linear(5, 4), kind(), nn.Linear(4, 3), kind(), nn.Linear(3, 2), seed=7
    )
    assert [type(layer) for layer in built.layers] == [type(layer) for layer in by_hand.layers]
    assert list(built.state_dict()) == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "4.weight",
        "4.bias",
    ]
    for name, value in by_hand.state_dict().items():
        np.testing.assert_array_equal(built.state_dict()[name], value)


def test_mlp_refuses_an_unknown_activation_and_too_few_sizes():
    with pytest.raises(ValueError, match="activation must be one of"):
        nn.mlp([4, 2], "swish")
    with pytest.raises(ValueError, match="at least two sizes"):
        nn.mlp([4])
