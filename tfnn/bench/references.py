"""The references tfnn is timed against, written without tfnn.nn: numpy by hand, and PyTorch.

``NumpyMLP`` is the training step as one would write it straight in numpy, for Linear
layers with ReLU between them and softmax cross-entropy on top (``n`` samples, ``L``
layers, ``h[0] = x``)::

    z[i]  = h[i] @ W[i].T + b[i];   h[i+1] = max(z[i], 0)  (no ReLU after the last layer)
    p     = softmax(z[L-1]);        loss = -mean(log p[k, y[k]])
    d     = (p - onehot(y)) / n
    for i = L-1 .. 0:  dW = d.T @ h[i];  db = sum(d, axis=0);  d = (d @ W[i]) * [h[i] > 0]
                       buf = momentum * buf + g  (g at the first step);  W -= lr * buf

which is torch.optim.SGD's momentum rule (dampening 0). ``TorchMLP`` is the same network in
PyTorch eager (``torch.nn.Linear``, ``cross_entropy``, ``torch.optim.SGD``) on a CPU or
CUDA device. Both have ``step(x, y) -> loss`` (a 0-d array, not read on the host),
``weights()`` (numpy, by ``nn.Sequential`` names) and ``synchronize()``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Reference(Protocol):
    """A training step written without tfnn (module docstring)."""

    def step(self, x: np.ndarray, y: np.ndarray) -> Any: ...

    def weights(self) -> dict[str, np.ndarray]: ...

    def synchronize(self) -> None: ...


class NumpyMLP:
    """The hand-written numpy training step (module docstring).

    Example::

        net = NumpyMLP(initial_weights(MODELS["mlp"]), lr=0.05, momentum=0.9)
        loss = net.step(x, y)          # x: float32 (n, 784), y: int64 (n,)
    """

    def __init__(self, weights: dict[str, np.ndarray], lr: float, momentum: float) -> None:
        count = len(weights) // 2
        self.W = [np.array(weights[f"{2 * i}.weight"]) for i in range(count)]
        self.b = [np.array(weights[f"{2 * i}.bias"]) for i in range(count)]
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.buffers: list[list[np.ndarray] | None] = [None] * count

    def step(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        n, last = len(y), len(self.W) - 1
        h = [x]
        for i in range(last + 1):
            z = h[i] @ self.W[i].T
            z += self.b[i]
            if i < last:
                np.maximum(z, 0.0, out=z)
            h.append(z)
        rows = np.arange(n)
        z = h[-1] - h[-1].max(axis=1, keepdims=True)
        e = np.exp(z)
        total = e.sum(axis=1)
        loss = np.log(total).mean() - z[rows, y].mean()
        d = e / total[:, None]
        d[rows, y] -= 1.0
        d /= n
        for i in range(last, -1, -1):
            dW, db = d.T @ h[i], d.sum(axis=0)
            if i:
                d = d @ self.W[i]
                d *= h[i] > 0.0
            self._update(i, dW, db)
        return loss

    def _update(self, i: int, dW: np.ndarray, db: np.ndarray) -> None:
        buffers = self.buffers[i]
        if buffers is None or not self.momentum:
            buffers = self.buffers[i] = [dW, db]
        else:
            for buf, g in zip(buffers, (dW, db), strict=True):
                buf *= self.momentum
                buf += g
        self.W[i] -= self.lr * buffers[0]
        self.b[i] -= self.lr * buffers[1]

    def weights(self) -> dict[str, np.ndarray]:
        out = {}
        for i, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            out[f"{2 * i}.weight"], out[f"{2 * i}.bias"] = W.copy(), b.copy()
        return out

    def synchronize(self) -> None:
        """Nothing to wait for on the host."""


class TorchMLP:
    """The same network and optimizer in PyTorch eager on ``device`` ("cpu", "cuda:0").

    Example::

        net = TorchMLP(initial_weights(MODELS["mlp"]), lr=0.05, momentum=0.9, device="cpu")
        loss = net.step(x, y)          # numpy batches, moved to the device here
    """

    def __init__(
        self, weights: dict[str, np.ndarray], lr: float, momentum: float, device: str
    ) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        count = len(weights) // 2
        layers: list[Any] = []
        for i in range(count):
            if i:
                layers.append(torch.nn.ReLU())
            n_out, n_in = weights[f"{2 * i}.weight"].shape
            layers.append(torch.nn.Linear(n_in, n_out))
        self.model = torch.nn.Sequential(*layers).to(self.device)
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                p.copy_(torch.from_numpy(weights[name]))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=momentum)

    def step(self, x: np.ndarray, y: np.ndarray) -> Any:
        torch = self.torch
        xb = torch.from_numpy(x).to(self.device, non_blocking=True)
        yb = torch.from_numpy(y).to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(self.model(xb), yb)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def weights(self) -> dict[str, np.ndarray]:
        return {name: p.detach().cpu().numpy().copy() for name, p in self.model.named_parameters()}

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)
