"""Quality bar: an MLP 784-256-128-10 trained on full MNIST must reach 98% test accuracy.

Uses the sequential reference loop (``nn.value_and_grad`` + ``opt.step()``), batch 128,
inputs normalised as ``(x/255 - 0.1307) / 0.3081``, a fresh seeded shuffle each epoch, and the
learning-rate schedule ``--schedule`` (``tfnn.optim.make_schedule``, as ``tfnn train`` builds
it; default cosine per step from ``--lr`` towards 0; ``plateau`` watches test accuracy).
Prints test accuracy and wall time per epoch, and writes them as JSON with ``--json``.

    python bench/quality_mlp.py --data-dir ../shared/data/mnist --optimizer sgd --epochs 10
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from tfnn import nn, optim
from tfnn.backends import get_backend
from tfnn.data import load_mnist


def load(split: str, data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_mnist(split, data_dir, download_missing=False)
    x = (images.reshape(len(images), -1).astype(np.float32) / 255.0 - 0.1307) / 0.3081
    return x.astype(np.float32), labels.astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--lr", type=float, default=None, help="default: 0.05 sgd, 1e-3 adam")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--schedule", choices=list(optim.SCHEDULES), default="cosine")
    parser.add_argument("--warmup-steps", type=int, default=0)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS threads")
    parser.add_argument("--target", type=float, default=0.98)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    backend = get_backend(args.backend)
    x_train, y_train = load("train", args.data_dir)
    x_test, y_test = load("test", args.data_dir)
    x_test_b, y_test_b = backend.asarray(x_test), backend.asarray(y_test)

    model = nn.Sequential(
        nn.Linear(784, 256),
        nn.ReLU(),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
        backend=backend,
        seed=args.seed,
    )
    loss = nn.SoftmaxCrossEntropy()
    if args.optimizer == "sgd":
        opt = optim.SGD(
            model.parameters(), lr=args.lr or 0.05, momentum=0.9, weight_decay=args.weight_decay
        )
    else:
        opt = optim.Adam(model.parameters(), lr=args.lr or 1e-3, weight_decay=args.weight_decay)
    order_rng = np.random.default_rng(args.seed)
    steps_per_epoch = math.ceil(len(x_train) / args.batch)
    opt.schedule = optim.make_schedule(
        args.schedule, args.epochs * steps_per_epoch, args.warmup_steps
    )

    epochs = []
    start = time.perf_counter()
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for epoch in range(1, args.epochs + 1):
            order = order_rng.permutation(len(x_train))
            losses = []
            for lo in range(0, len(order), args.batch):
                idx = order[lo : lo + args.batch]
                xb, yb = backend.asarray(x_train[idx]), backend.asarray(y_train[idx])
                value, grads = nn.value_and_grad(model, loss, xb, yb)
                for p, g in zip(model.parameters(), grads, strict=True):
                    p.grad = g
                opt.step()
                losses.append(value)
            acc = nn.accuracy(model.predict(x_test_b), y_test_b)
            opt.schedule.observe(float(np.mean(losses)), acc)
            wall = time.perf_counter() - start
            epochs.append(
                {"epoch": epoch, "loss": float(np.mean(losses)), "test_acc": acc, "wall_s": wall}
            )
            print(
                f"epoch {epoch:2d}  loss {np.mean(losses):.4f}  test acc {acc:.4f}  "
                f"wall {wall:6.1f} s",
                flush=True,
            )

    best = max(e["test_acc"] for e in epochs)
    result = {
        "workload": "mlp-784-256-128-10",
        "optimizer": args.optimizer,
        "lr": opt.lr,
        "schedule": repr(opt.schedule),
        "weight_decay": args.weight_decay,
        "batch": args.batch,
        "seed": args.seed,
        "backend": args.backend,
        "threads": args.threads,
        "epochs": epochs,
        "final_test_acc": epochs[-1]["test_acc"],
        "best_test_acc": best,
        "target": args.target,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    passed = epochs[-1]["test_acc"] >= args.target
    print(
        f"final test accuracy {epochs[-1]['test_acc']:.4f} "
        f"({'meets' if passed else 'MISSES'} the {args.target:.3f} bar)"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
