"""The optimizer base: one parameter at a time, so each update can be its own task.

State, per parameter ``i``: ``state[i]``, a dict of arrays (momentum buffer, moments) on the
parameter's device, and ``steps[i]``, how many updates it has had (Adam's bias correction
uses it). ``step_param(i)`` reads ``params[i].grad``, skips a parameter whose grad is None,
and rebinds ``params[i].value`` to a new array rather than writing into the old one, so a
task still reading the old weights (a backward_input) is not disturbed. Updates of
different parameters touch disjoint state and may run concurrently. ``step_param_rows``
does the same update by row blocks (a data-parallel rank updates each block as its
exchange arrives).

``PerParameterOptimizer`` is the protocol the Trainer asks for: what it calls of an
optimizer (a user's own optimizer need not derive from ``Optimizer``).

The rate of update ``t`` (1-based, ``steps[i]``) is ``lr_at(t) = lr * schedule.factor(t - 1)``
(``tfnn.optim.schedules``; ``ConstantLR`` unless one is set): ``lr`` stays the base rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from array_api_compat import device

from tfnn.backends import namespace_of
from tfnn.nn.parameter import Parameter
from tfnn.optim.schedules import ConstantLR, Schedule


class PerParameterOptimizer(Protocol):
    """What ``Trainer`` needs of an optimizer: its parameters, one update per parameter,
    its state as arrays plus JSON metadata (for checkpoints), and the learning-rate
    schedule it reads per update with the update counts that are its clock.

    Example::

        opt.params[0].grad = dW
        opt.step_param(0)
        arrays, meta = opt.state_dict(); opt.load_state_dict(arrays, meta)
    """

    params: list[Parameter]
    steps: list[int]
    schedule: Schedule

    @property
    def last_lr(self) -> float: ...

    def step_param(self, i: int) -> None: ...

    def state_dict(self) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def load_state_dict(self, arrays: Mapping[str, Any], meta: Mapping[str, Any]) -> None: ...


class Optimizer:
    """Base class; subclasses name their ``hyperparameters`` and implement ``update``.

    Example::

        opt.step()            # every parameter
        opt.step_param(0)     # just parameters()[0], e.g. as its own task
    """

    hyperparameters: tuple[str, ...] = ()
    lr: float  # the base rate; subclasses set it

    def __init__(self, params: Iterable[Parameter]) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimizer got no parameters; pass model.parameters()")
        self.state: list[dict[str, Any]] = [{} for _ in self.params]
        self.steps = [0] * len(self.params)
        # Updates by row blocks in progress: parameter -> (new value, new state).
        self._rows: dict[int, tuple[Any, dict[str, Any]]] = {}
        self.schedule: Schedule = ConstantLR()

    def lr_at(self, step: int) -> float:
        """The rate of a parameter's ``step``-th update (1-based), a Python float.

        Example::

            opt.schedule = StepDecay(step_size=100)
            opt.lr_at(101)   # lr * 0.1
        """
        return self.lr * self.schedule.factor(step - 1)

    @property
    def last_lr(self) -> float:
        """The rate of the latest update (of the first update before there is one)."""
        return self.lr_at(max(max(self.steps, default=0), 1))

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for i in range(len(self.params)):
            self.step_param(i)

    def step_param(self, i: int) -> None:
        """Update ``params[i]`` from its ``grad``; nothing happens when the grad is None."""
        p = self.params[i]
        if p.grad is None:
            return
        self.steps[i] += 1
        p.value = self.update(p.value, p.grad, self.state[i], self.steps[i])

    def step_param_rows(self, i: int, lo: int, hi: int, grad: Any) -> None:
        """Update rows ``lo:hi`` (first axis) of ``params[i]`` from ``grad``, their gradient.

        Called for consecutive row blocks that cover the parameter, from row 0 up; the
        new value and state are published when the last block is done, so a task still
        reading the old weights is not disturbed. The update of a block is the update of
        the whole parameter restricted to it (every optimizer here is elementwise), so the
        result is the same as ``step_param`` bit for bit, and the step counts once.

        Example::

            opt.step_param_rows(0, 0, 128, dW[:128]); opt.step_param_rows(0, 128, 256, dW[128:])
        """
        p = self.params[i]
        if lo == 0:
            self.steps[i] += 1
            self._rows[i] = (namespace_of(p.value).empty_like(p.value), {})
        value, state = self._rows[i]
        block = {name: array[lo:hi] for name, array in self.state[i].items()}
        value[lo:hi] = self.update(p.value[lo:hi], grad, block, self.steps[i])
        for name, array in block.items():
            if name not in state:
                xp = namespace_of(array)
                state[name] = xp.empty(p.value.shape, dtype=array.dtype, device=device(array))
            state[name][lo:hi] = array
        if hi == p.value.shape[0]:
            p.value, self.state[i] = value, state
            del self._rows[i]

    def update(self, value: Any, grad: Any, state: dict[str, Any], step: int) -> Any:
        """Return the new value; may replace entries of ``state``."""
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Forget every parameter's gradient."""
        for p in self.params:
            p.grad = None

    def state_dict(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(arrays, meta)``: state arrays keyed ``"{i}.{name}"`` on the parameters' device
        (convert with ``backend.to_numpy``), and JSON-able hyperparameters and step counts.

        Example::

            arrays, meta = opt.state_dict()
            opt.load_state_dict(arrays, meta)
        """
        arrays = {f"{i}.{k}": v for i, state in enumerate(self.state) for k, v in state.items()}
        meta = {
            "type": type(self).__name__,
            "hyperparameters": {name: getattr(self, name) for name in self.hyperparameters},
            "steps": list(self.steps),
            "params": [p.name for p in self.params],
        }
        return arrays, meta

    def load_state_dict(self, arrays: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned (numpy or backend arrays)."""
        names = [p.name for p in self.params]
        if meta["type"] != type(self).__name__ or meta["params"] != names:
            raise ValueError(
                f"state is for {meta['type']} over {meta['params']}, "
                f"not {type(self).__name__} over {names}"
            )
        state: list[dict[str, Any]] = [{} for _ in self.params]
        for key, array in arrays.items():
            index, name = key.split(".", 1)
            like = self.params[int(index)].value
            xp = namespace_of(like)
            state[int(index)][name] = xp.asarray(array, dtype=like.dtype, device=device(like))
        for name, value in meta["hyperparameters"].items():
            setattr(self, name, value)
        self.state = state
        self.steps = list(meta["steps"])
