"""``tfnn bench``: every backend x strategy against the references, on the same work.

For each model and batch size (a ``Workload``) the run

1. builds the contenders: each tfnn strategy on each backend asked for (``condition``
   twice: ``--workers`` workers with cores/workers BLAS threads each, and 1 worker with
   every core), the hand-written numpy loop, PyTorch on the CPU and PyTorch on CUDA;
   a contender that cannot run here is listed as skipped, with the reason;
2. runs the correctness guard (``tfnn.bench.timing``): a disagreement ends the run with
   one line naming the contender and exit status 1, before anything is timed;
3. times every contender ``--repeats`` times, interleaved, after one dropped warm-up
   repetition (what is timed: ``tfnn.bench.contenders``);

then measures the executor's cost per task (``tfnn.bench.overhead``), prints the table,
writes ``results.json`` and the plots into ``--out``. ``--quick`` is a smoke run (about
half a minute on 2 cores): 20 steps, 2 repetitions, batch size 128.

Example::

    $ tfnn bench --backends numpy --strategies sequential,condition --steps 100 --out bench-out
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HELP = "time training per backend, strategy and reference; print a table, write JSON and plots"

DEFAULTS = {
    "backends": "numpy,torch,cupy",
    "strategies": "all",
    "models": "mlp,taskflow-mnist",
    "batch_sizes": "128",
    "steps": 200,
    "repeats": 5,
}
QUICK = {"steps": 20, "repeats": 2, "batch_sizes": "128"}


class BenchError(Exception):
    """The benchmark cannot run as asked; the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``tfnn bench`` (``tfnn bench --help`` lists them)."""
    what = parser.add_argument_group("what runs")
    what.add_argument(
        "--backends", help=f"tfnn backends, name or name:device ({DEFAULTS['backends']})"
    )
    what.add_argument("--strategies", help="tfnn strategies, or all of tfnn.train.STRATEGIES (all)")
    what.add_argument(
        "--models", help=f"mlp (784-256-128-10), taskflow-mnist ({DEFAULTS['models']})"
    )
    what.add_argument("--batch-sizes", help=f"comma-separated ({DEFAULTS['batch_sizes']})")
    what.add_argument("--workers", type=int, default=2, help="executor workers (2)")
    what.add_argument(
        "--streams", default="4", help="GPU stream pool sizes, comma-separated; 1 = no overlap (4)"
    )
    what.add_argument(
        "--data-dir", help="full MNIST here (default $TFNN_DATA_DIR, else the sample)"
    )
    how = parser.add_argument_group("how it is timed")
    how.add_argument("--steps", type=int, help=f"training steps per run ({DEFAULTS['steps']})")
    how.add_argument("--repeats", type=int, help=f"timed repetitions ({DEFAULTS['repeats']})")
    how.add_argument("--baseline", default="numpy-loop", help="ratios against it (numpy-loop)")
    how.add_argument(
        "--guard-steps", type=int, default=5, help="steps of the correctness guard (5)"
    )
    how.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (0.05)")
    how.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (0.9)")
    how.add_argument("--seed", type=int, default=0, help="weights and data order (0)")
    how.add_argument("--quick", action="store_true", help="smoke run: 20 steps, 2 repeats, b128")
    parser.add_argument("--out", default="tfnn-bench", help="results.json and plots go here")


def run(args: argparse.Namespace) -> int:
    """Run ``tfnn bench`` from parsed arguments; print one line and return 1 on failure."""
    from tfnn.backends import BackendError
    from tfnn.bench.timing import Disagreement

    try:
        options = _options(args)
        results = benchmark(**options, arguments=_arguments(args))
    except (BenchError, Disagreement, BackendError, ValueError) as e:
        print("tfnn: error:", *str(e).split(), file=sys.stderr)
        return 1
    print(results["table"])
    return 0


def _arguments(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, type(None)))
    }


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _whole(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BenchError(f"{what} must be whole numbers, not {text!r}") from None
    if value < 1:
        raise BenchError(f"{what} must be >= 1, not {value}")
    return value


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from tfnn.bench.models import MODELS
    from tfnn.train import STRATEGIES

    def pick(key: str) -> Any:
        value = getattr(args, key)
        if value is not None:
            return value
        return QUICK.get(key, DEFAULTS[key]) if args.quick else DEFAULTS[key]

    strategies = _split(pick("strategies"))
    if strategies == ["all"]:
        strategies = list(STRATEGIES)
    for s in strategies:
        if s not in STRATEGIES:
            raise BenchError(f"unknown strategy {s!r}; choose from {', '.join(STRATEGIES)}")
    models = _split(pick("models"))
    for m in models:
        if m not in MODELS:
            raise BenchError(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
    return {
        "backends": _split(pick("backends")),
        "strategies": strategies,
        "models": models,
        "batch_sizes": [_whole(b, "--batch-sizes") for b in _split(pick("batch_sizes"))],
        "steps": _whole(str(pick("steps")), "--steps"),
        "repeats": _whole(str(pick("repeats")), "--repeats"),
        "workers": _whole(str(args.workers), "--workers"),
        "streams": [_whole(s, "--streams") for s in _split(args.streams)],
        "baseline": args.baseline,
        "guard_steps": _whole(str(args.guard_steps), "--guard-steps"),
        "data_dir": args.data_dir,
        "lr": args.lr,
        "momentum": args.momentum,
        "seed": args.seed,
        "out": Path(args.out),
        "quick": args.quick,
    }


def contenders_for(
    backends: list[str], strategies: list[str], workers: int, streams: list[int]
) -> tuple[list[Any], list[dict[str, str]]]:
    """The contenders that can run here, and the skipped ones with their reasons."""
    from tfnn.backends import available_backends
    from tfnn.bench.contenders import reference_contenders, tfnn_contenders, unavailable

    known = available_backends()
    wanted = []
    for spec in backends:
        name, _, device = spec.partition(":")
        if name not in known:
            raise BenchError(f"unknown backend {name!r}; choose from {', '.join(known)}")
        if device == "":
            device = "cuda:0" if name == "cupy" else "cpu"
        wanted += tfnn_contenders(name, device, strategies, workers, streams)
    wanted += reference_contenders()
    runnable, skipped = [], []
    reasons: dict[tuple[str, str, str], str | None] = {}
    for c in wanted:
        key = (c.kind, c.backend, c.device)
        if key not in reasons:
            reasons[key] = unavailable(c)
        if reasons[key] is None:
            runnable.append(c)
        else:
            skipped.append({"contender": c.name, "reason": str(reasons[key])})
    return runnable, skipped


def benchmark(
    *,
    backends: list[str],
    strategies: list[str],
    models: list[str],
    batch_sizes: list[int],
    steps: int,
    repeats: int,
    workers: int = 2,
    streams: list[int] | None = None,
    baseline: str | None = "numpy-loop",
    guard_steps: int = 5,
    data_dir: str | None = None,
    lr: float = 0.05,
    momentum: float = 0.9,
    seed: int = 0,
    out: Path | None = None,
    quick: bool = False,
    arguments: dict[str, Any] | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Run the benchmark (module docstring); return the results, also written to ``out``.

    Example::

        results = benchmark(backends=["numpy"], strategies=["condition"], models=["mlp"],
                            batch_sizes=[128], steps=50, repeats=3)
        results["workloads"][0]["contenders"]["tfnn-numpy-condition-w2b1"]["ratio"]
    """
    from tqdm import tqdm

    from tfnn.bench import contenders as contenders_module
    from tfnn.bench import report, timing
    from tfnn.bench.models import load_data, make_workload

    streams = streams or [4]
    runnable, skipped = contenders_for(backends, strategies, workers, streams)
    if not runnable:
        raise BenchError("no contender can run here; see `tfnn info`")
    names = [c.name for c in runnable]
    if baseline is not None and baseline not in names:
        raise BenchError(f"baseline {baseline!r} does not run here; choose from {', '.join(names)}")
    data = load_data(data_dir)
    workloads = [
        make_workload(m, data, b, steps, lr=lr, momentum=momentum, seed=seed)
        for m in models
        for b in batch_sizes
    ]
    bar = tqdm(
        total=len(workloads) * len(runnable) * (repeats + 2),
        unit="run",
        file=sys.stderr,
        disable=None,
        leave=False,
    )
    started = time.perf_counter()
    workload_results, median_runs = [], {}
    with bar:
        for w in workloads:
            bar.set_description(f"{w.name} guard")
            checked = timing.guard(w, runnable, steps=guard_steps, progress=lambda: bar.update())
            bar.set_description(f"{w.name} timing")
            runs = timing.interleave(w, runnable, repeats, progress=lambda: bar.update())
            stats = timing.summarize(runs, baseline)
            median_runs[w.name] = {n: timing.median_run(rs) for n, rs in runs.items()}
            for c in runnable:
                stats[c.name]["settings"] = c.settings()
                stats[c.name]["loss_curve"] = [
                    {"seconds": t, "step": s, "loss": v}
                    for t, s, v in median_runs[w.name][c.name].curve
                ]
            workload_results.append(
                {
                    "name": w.name,
                    "model": w.model,
                    "layers": list(w.sizes),
                    "batch_size": w.batch_size,
                    "steps": w.steps,
                    "epochs": w.epochs,
                    "steps_per_epoch": w.steps_per_epoch,
                    "samples_per_run": w.samples,
                    "guard": checked.to_dict(),
                    "contenders": stats,
                }
            )
    overhead_results = _overhead(models, quick)
    env = report.environment()
    results: dict[str, Any] = {
        "schema": report.SCHEMA,
        "command": {"program": "tfnn bench", "arguments": arguments or {}},
        **env,
        "settings": {
            "backends": backends,
            "strategies": strategies,
            "models": models,
            "batch_sizes": batch_sizes,
            "steps": steps,
            "repeats": repeats,
            "warmup_repetitions_dropped": 1,
            "workers": workers,
            "streams": streams,
            "baseline": baseline,
            "guard_steps": guard_steps,
            "optimizer": {"name": "SGD", "lr": lr, "momentum": momentum},
            "seed": seed,
            "data": data.source,
            "quick": quick,
        },
        "timed": contenders_module.__doc__,
        "unit": "samples per second (training samples / timed seconds); ratio = median / "
        "baseline median, > 1 is faster",
        "workloads": workload_results,
        "skipped": skipped,
        "overhead": overhead_results,
        "plots": [],
        "plot_note": None,
        "wall_seconds": time.perf_counter() - started,
    }
    results["table"] = report.format_table(results)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if plots:
            try:
                results["plots"] = report.plot(results, median_runs, out)
            except ImportError:
                results["plot_note"] = "matplotlib is not installed: pip install 'tfnn[bench]'"
                print(f"tfnn bench: no plots, {results['plot_note']}", file=sys.stderr)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=_plain))
    return results


def _overhead(models: list[str], quick: bool) -> dict[str, Any]:
    from tfnn import nn, optim
    from tfnn.backends import get_backend
    from tfnn.bench.models import MODELS, initial_weights, load_data, tfnn_model
    from tfnn.bench.overhead import task_overhead, tasks_per_step
    from tfnn.train import Trainer

    per_task = task_overhead(size=300 if quick else 2000, repeats=2 if quick else 5)

    data = load_data(None)
    steps: dict[str, float] = {}
    for m in models:
        sizes = MODELS[m]

        def fit(path: Path, sizes: tuple[int, ...] = sizes) -> int:
            model = tfnn_model(sizes, initial_weights(sizes), get_backend("numpy"))
            trainer = Trainer(
                model,
                nn.SoftmaxCrossEntropy(),
                optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                strategy="condition",
                workers=2,
            )
            n = 4 * 32
            history = trainer.fit(data.x_train[:n], data.y_train[:n], 1, 32, trace=path)
            return history.steps

        steps[m] = tasks_per_step(fit)
    return {
        "unit": "microseconds per no-op task, tfnn Executor, interleaved; repetition 0, "
        "which also prepares each graph for its first run, is dropped",
        "per_task": per_task,
        "condition_tasks_per_step": steps,
    }


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def main(argv: list[str] | None = None) -> int:
    """``python -m tfnn.bench.command``: the same as ``tfnn bench``."""
    parser = argparse.ArgumentParser(prog="tfnn bench", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
