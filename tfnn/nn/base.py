"""``Layer``: the base class of every layer, and the contract the training graphs call.

A layer holds parameters and nothing else: every call returns its context instead of
storing it, so several micro-batches can be in flight through one layer at once.

- ``forward(x, *, training=False, rng=None) -> (y, ctx)``
- ``backward_input(ctx, dy) -> dx``                  needs ``dy`` only, not the weight grads
- ``backward_weight(ctx, dy) -> grads``              a tuple in ``parameters()`` order
- ``backward(ctx, dy) -> (dx, grads)``               both, for sequential use
- ``init_parameters(backend, rng, dtype)``           create parameter values from ``rng``

``backward_input`` and ``backward_weight`` of one layer are independent and may run as
parallel tasks. A context keeps the parameter arrays that forward used, and optimizers
rebind ``Parameter.value`` to a new array instead of writing into the old one, so an update
of a layer may overlap that layer's ``backward_input`` without changing its result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from tfnn.backends import Backend, Generator, get_backend
from tfnn.nn.parameter import Parameter

L = TypeVar("L", bound="Layer")


class Layer:
    """Base class: a parameterless identity; subclasses override what they need.

    Example::

        y, ctx = layer.forward(x)
        dx, grads = layer.backward(ctx, dy)
    """

    backend: Backend | None = None

    def parameters(self) -> list[Parameter]:
        """The trainable parameters, each layer's weight before its bias."""
        return []

    def initialize(self: L, backend: Backend | None = None, seed: int = 0, dtype: Any = None) -> L:
        """Create every parameter on ``backend`` (default numpy) from ``seed``; return self.

        Example::

            model.initialize(get_backend("array_api_strict"), seed=1, dtype=xp.float64)
        """
        backend = backend or get_backend()
        dtype = backend.xp.float32 if dtype is None else dtype
        self.init_parameters(backend, backend.rng(seed), dtype)
        self.backend = backend
        return self

    def init_parameters(self, backend: Backend, rng: Generator, dtype: Any) -> None:
        """Draw this layer's parameter values from ``rng``; containers share one ``rng``."""

    def forward(
        self, x: Any, *, training: bool = False, rng: Generator | None = None
    ) -> tuple[Any, Any]:
        """``(y, ctx)``; ``training`` and ``rng`` matter only to layers such as Dropout."""
        return x, None

    def backward_input(self, ctx: Any, dy: Any) -> Any:
        """The gradient with respect to forward's input."""
        return dy

    def backward_weight(self, ctx: Any, dy: Any) -> tuple[Any, ...]:
        """The gradients of ``parameters()``, in that order."""
        return ()

    def backward(
        self, ctx: Any, dy: Any, *, input_grad: bool = True
    ) -> tuple[Any, tuple[Any, ...]]:
        """``(dx, grads)``; ``dx`` is None when ``input_grad`` is False (a first layer)."""
        dx = self.backward_input(ctx, dy) if input_grad else None
        return dx, self.backward_weight(ctx, dy)

    def predict(self, x: Any) -> Any:
        """The forward pass in evaluation mode, without a context.

        Example::

            logits = model.predict(x_test)
        """
        return self.forward(x)[0]

    def state_dict(self) -> dict[str, Any]:
        """The parameter values as numpy arrays by name, e.g. ``{"0.weight": ...}``."""
        backend = self._initialized_backend()
        return {p.name: backend.to_numpy(p.value) for p in self.parameters()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Set every parameter from ``state`` (numpy or backend arrays), keeping dtypes."""
        backend = self._initialized_backend()
        params = {p.name: p for p in self.parameters()}
        if set(params) != set(state):
            raise ValueError(
                f"state names do not match the model: missing {sorted(set(params) - set(state))},"
                f" unexpected {sorted(set(state) - set(params))}"
            )
        for name, p in params.items():
            if tuple(state[name].shape) != tuple(p.value.shape):
                raise ValueError(
                    f"{name}: shape {tuple(state[name].shape)} in the state, "
                    f"{tuple(p.value.shape)} in the model"
                )
        for name, p in params.items():
            p.value = backend.asarray(state[name], dtype=p.value.dtype)

    def _initialized_backend(self) -> Backend:
        if self.backend is None:
            raise RuntimeError(
                f"{type(self).__name__} has no parameter values yet; "
                "call .initialize(backend, seed) first"
            )
        return self.backend
