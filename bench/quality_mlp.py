"""Quality bar: ``tfnn train`` with its defaults must reach 98% test accuracy on full MNIST.

Runs ``tfnn train --data-dir D --epochs 10 --seed S`` in this process for each seed of
``--seeds`` (the defaults are the recipe: 784-256-128-10 ReLU, SGD lr 0.05 with momentum
0.9, batch 128, the learning-rate schedule of ``--schedule``'s default), reads each run's
metrics (one record per epoch: loss, test accuracy, learning rate), and writes them as JSON
with ``--json`` and as one plot of every seed's test-accuracy curve with ``--png``. Flags
after ``--`` go to ``tfnn train`` unchanged (``-- --schedule step --lr 0.1``). Exits 1 when
a seed's final accuracy misses ``--target``.

    python bench/quality_mlp.py --data-dir ../shared/data/mnist \\
        --json bench/results/recipe-seeds.json --png bench/results/recipe-seeds.png
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tfnn.cli import main as tfnn_main


def train(seed: int, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """One ``tfnn train`` run; its per-epoch records and summary."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.jsonl"
        argv = ["train", "--data-dir", args.data_dir, "--epochs", str(args.epochs)]
        argv += ["--seed", str(seed), *extra]
        begin = time.perf_counter()
        status = tfnn_main([*argv, "--metrics", str(metrics)])
        wall = time.perf_counter() - begin
        if status != 0:
            raise SystemExit(f"tfnn {' '.join(argv)} failed with status {status}")
        records = [json.loads(line) for line in metrics.read_text().splitlines()]
    accuracies = [r["test_accuracy"] for r in records]
    return {
        "seed": seed,
        "argv": argv,
        "epochs": [
            {k: r[k] for k in ("epoch", "step", "train_loss", "test_accuracy", "lr")}
            for r in records
        ],
        "final_test_acc": accuracies[-1],
        "best_test_acc": max(accuracies),
        "wall_s": wall,
    }


def plot(runs: list[dict[str, Any]], target: float, path: str) -> None:
    """Every seed's test accuracy per epoch, the target as a line, the rate beneath."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for run in runs:
        epochs = [e["epoch"] for e in run["epochs"]]
        top.plot(
            epochs,
            [100 * e["test_accuracy"] for e in run["epochs"]],
            marker="o",
            label=f"seed {run['seed']}: final {100 * run['final_test_acc']:.2f}%, "
            f"best {100 * run['best_test_acc']:.2f}%",
        )
    first = runs[0]["epochs"]
    bottom.plot([e["epoch"] for e in first], [e["lr"] for e in first], marker=".", color="gray")
    top.axhline(100 * target, color="black", linestyle="--", linewidth=1, label="target")
    top.set_ylabel("test accuracy (%)")
    top.set_title("tfnn train --data-dir <full MNIST> --epochs 10 --seed S (defaults)")
    top.legend(loc="lower right")
    top.grid(alpha=0.3)
    bottom.set_ylabel("lr, last step")
    bottom.set_xlabel("epoch")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    ours = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated (default 0,1,2)")
    parser.add_argument("--target", type=float, default=0.98)
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--png", default=None, help="draw the seeds' curves here")
    args = parser.parse_args(ours)

    runs = [train(int(seed), args, extra) for seed in args.seeds.split(",")]
    for run in runs:
        print(
            f"seed {run['seed']}: final {run['final_test_acc']:.4f}  "
            f"best {run['best_test_acc']:.4f}  wall {run['wall_s']:.1f} s"
        )
    result = {
        "workload": "tfnn train defaults (mlp-784-256-128-10), full MNIST",
        "flags": extra,
        "epochs": args.epochs,
        "target": args.target,
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
        "runs": runs,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.png:
        plot(runs, args.target, args.png)
    missed = [run["seed"] for run in runs if run["final_test_acc"] < args.target]
    passed = len(runs) - len(missed)
    print(f"final test accuracy >= {args.target:.3f} for {passed} of {len(runs)} seeds")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
