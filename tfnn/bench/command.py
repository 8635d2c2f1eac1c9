"""``tfnn bench``: every backend x strategy against the references, on the same work.

The arguments are checked first (numbers by argparse: a finite learning rate > 0, a
momentum in [0, 1); names; ``--out``: a folder, or a new one in an existing writable
folder, holding no file of another kind under the names it writes); then, for each model
and batch size (a ``tfnn.bench.workload.Workload``), the run

1. builds the contenders (``tfnn.bench.contenders``): each tfnn strategy on each backend
   asked for (``condition`` twice: ``--workers`` workers with cores/workers BLAS threads
   each, and 1 worker with every core), the hand-written numpy loop, PyTorch on the CPU and
   on CUDA; with ``--ranks N``, each strategy and the numpy step with one ``Allreduce``
   on N MPI ranks (``tfnn.bench.ranks``); a contender that cannot run here is listed as
   skipped, with the reason;
2. runs the correctness guard (``tfnn.bench.guard``): a disagreement or a diverging
   training ends the run with one line and exit status 1, before anything is timed;
3. times every contender ``--repeats`` times, interleaved, after one dropped warm-up
   repetition, each run after the same warm-up steps (``tfnn.bench.model.measure``);

then measures the executor's cost per task (``tfnn.bench.overhead``), prints the table,
writes ``results.json`` and the plots into ``--out``. ``--quick`` is a smoke run (about
half a minute on 2 cores): 20 steps, 2 repetitions, batch size 128; its runs are too
short to compare, and the table says so instead of printing ratios.

Errors the user can cause are ``BenchError`` (a ``tfnn.commands.CommandError``), which
``tfnn.cli`` prints as one line.

Example::

    $ tfnn bench --backends numpy --strategies sequential,condition --steps 100 --out bench-out
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tfnn.bench.model import MIN_SECONDS, BenchError

DEFAULTS = {
    "backends": "numpy,torch,cupy",
    "strategies": "all",
    "models": "mlp,taskflow-mnist",
    "batch_sizes": [128],
    "steps": 200,
    "repeats": 5,
}
QUICK = {"steps": 20, "repeats": 2, "batch_sizes": [128]}
PNG = b"\x89PNG\r\n\x1a\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``tfnn bench`` (``tfnn bench --help`` lists them)."""
    from tfnn.commands.arguments import fraction, positive_float, positive_int, seed

    what = parser.add_argument_group("what runs")
    what.add_argument("--backends", help=f"name or name:device ({DEFAULTS['backends']})")
    what.add_argument("--strategies", help="tfnn strategies, or all of tfnn.train.STRATEGIES (all)")
    what.add_argument(
        "--models", help=f"mlp (784-256-128-10), taskflow-mnist ({DEFAULTS['models']})"
    )
    what.add_argument("--batch-sizes", type=positive_ints, help="comma-separated (128)")
    what.add_argument("--workers", type=positive_int, default=2, help="executor workers (2)")
    what.add_argument(
        "--streams",
        type=positive_ints,
        default=[4],
        help="GPU stream pool sizes; 1 = no overlap (4)",
    )
    what.add_argument(
        "--ranks",
        type=rank_counts,
        default=[],
        help="also time tfnn and a numpy+mpi4py loop on N MPI ranks, same global batch; "
        "comma-separated counts >= 2 (none)",
    )
    what.add_argument(
        "--data-dir", help="full MNIST here (default $TFNN_DATA_DIR, else the sample)"
    )
    how = parser.add_argument_group("how it is timed")
    how.add_argument(
        "--steps", type=positive_int, help=f"training steps per run ({DEFAULTS['steps']})"
    )
    how.add_argument(
        "--repeats", type=positive_int, help=f"timed repetitions ({DEFAULTS['repeats']})"
    )
    how.add_argument("--baseline", default="numpy-loop", help="ratios against it (numpy-loop)")
    how.add_argument(
        "--guard-steps", type=positive_int, default=5, help="steps of the correctness guard (5)"
    )
    how.add_argument("--lr", type=positive_float, default=0.05, help="SGD learning rate (0.05)")
    how.add_argument("--momentum", type=fraction, default=0.9, help="SGD momentum, in [0, 1) (0.9)")
    how.add_argument("--seed", type=seed, default=0, help="weights and data order (0)")
    how.add_argument("--quick", action="store_true", help="smoke run: 20 steps, 2 repeats, b128")
    parser.add_argument("--out", default="tfnn-bench", help="results.json and plots go here")


def positive_ints(text: str) -> list[int]:
    """argparse type: comma-separated whole numbers >= 1, at least one."""
    from tfnn.commands.arguments import positive_int

    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"{text!r} lists no number")
    return [positive_int(part) for part in parts]


def rank_counts(text: str) -> list[int]:
    """argparse type of ``--ranks``: comma-separated rank counts >= 2, each once."""
    counts = positive_ints(text)
    if 1 in counts:
        raise argparse.ArgumentTypeError(f"{text!r}: 1 rank is a single process; give counts >= 2")
    return list(dict.fromkeys(counts))


@dataclass
class Options:
    """What ``benchmark`` runs: the checked flags (``tfnn bench --help``)."""

    backends: list[str]
    strategies: list[str]
    models: list[str]
    batch_sizes: list[int]
    steps: int
    repeats: int
    workers: int = 2
    streams: list[int] = field(default_factory=lambda: [4])
    ranks: list[int] = field(default_factory=list)
    baseline: str | None = "numpy-loop"
    guard_steps: int = 5
    data_dir: str | None = None
    lr: float = 0.05
    momentum: float = 0.9
    seed: int = 0
    quick: bool = False


def run(args: argparse.Namespace) -> int:
    """Run ``tfnn bench`` from parsed arguments and print the table; a ``BenchError``
    reaches ``tfnn.cli``, which prints it as one line."""
    chosen = options(args)
    arguments = {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, list))}
    results = benchmark(chosen, out=check_out(args.out), arguments=arguments)
    print(results["table"])
    return 0


def options(args: argparse.Namespace) -> Options:
    """The flags as ``Options``, each checked (module docstring)."""
    from tfnn.bench.workload import MODELS
    from tfnn.train import STRATEGIES

    def pick(key: str) -> Any:
        value = getattr(args, key)
        if value is not None:
            return value
        return QUICK.get(key, DEFAULTS[key]) if args.quick else DEFAULTS[key]

    return Options(
        backends=_names(pick("backends"), "--backends", None),
        strategies=_names(pick("strategies"), "--strategies", list(STRATEGIES)),
        models=_names(pick("models"), "--models", list(MODELS)),
        batch_sizes=pick("batch_sizes"),
        steps=pick("steps"),
        repeats=pick("repeats"),
        workers=args.workers,
        streams=args.streams,
        ranks=args.ranks,
        baseline=args.baseline,
        guard_steps=args.guard_steps,
        data_dir=args.data_dir,
        lr=args.lr,
        momentum=args.momentum,
        seed=args.seed,
        quick=args.quick,
    )


def _names(text: str, flag: str, choices: list[str] | None) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if choices is not None and names == ["all"]:
        return choices
    if not names:
        listed = f"; choose from {', '.join(choices)}" if choices else ""
        raise BenchError(f"{flag} is empty{listed}")
    for name in names:
        if choices is not None and name not in choices:
            what = flag.removeprefix("--").replace("ies", "y").rstrip("s")
            raise BenchError(f"unknown {what} {name!r}; choose from {', '.join(choices)}")
    return names


def check_out(text: str) -> Path:
    """``--out`` as a ``Path``, checked before any work (module docstring) by the check
    ``tfnn train`` runs on its outputs (``tfnn.train.outputs``).

    Example::

        check_out("bench-out")    # Path('bench-out'): may be created in the current folder
    """
    from tfnn.train.outputs import OutputKind, check_outputs

    out = Path(text)
    if not text or (out.exists() and not out.is_dir()):
        raise BenchError(f"--out {text!r} is not a folder; give a folder for the results")
    if not out.is_dir():
        check_outputs({"--out": (out, OutputKind("a folder", lambda path: False))})
        return out
    results = OutputKind("tfnn bench results", _is_results)
    plot = OutputKind("a PNG plot", lambda path: path.read_bytes()[: len(PNG)] == PNG)
    check_outputs(
        {
            f"--out {text}: {name}": (out / name, plot if name.endswith(".png") else results)
            for name in ("results.json", "throughput.png", "loss_vs_time.png")
        }
    )
    return out


def _is_results(path: Path) -> bool:
    try:
        return str(json.loads(path.read_text()).get("schema", "")).startswith("tfnn-bench/")
    except (OSError, ValueError, AttributeError):
        return False


def benchmark(
    options: Options,
    *,
    out: Path | None = None,
    arguments: dict[str, Any] | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Run the benchmark (module docstring); return the results, also written to ``out``.

    Example::

        results = benchmark(Options(["numpy"], ["condition"], ["mlp"], [128], 50, 3))
        results["workloads"][0]["contenders"]["tfnn-numpy-condition-w2b1"]["ratio"]
    """
    from tfnn.bench import report
    from tfnn.bench.contenders import contenders_for
    from tfnn.bench.workload import WARMUP_STEPS, load_data, make_workload

    o = options
    runnable, skipped = contenders_for(o.backends, o.strategies, o.workers, o.streams, o.ranks)
    names = [c.name for c in runnable]
    if o.baseline is not None and o.baseline not in names:
        choices = ", ".join(names)
        raise BenchError(f"baseline {o.baseline!r} does not run here; choose from {choices}")
    started = time.perf_counter()
    data = load_data(o.data_dir)
    workloads = [
        make_workload(m, data, b, o.steps, lr=o.lr, momentum=o.momentum, seed=o.seed)
        for m in o.models
        for b in o.batch_sizes
    ]
    timed, median_runs = time_workloads(workloads, runnable, o.repeats, o.baseline, o.guard_steps)
    results: dict[str, Any] = {
        "schema": report.SCHEMA,
        "command": {"program": "tfnn bench", "arguments": arguments or {}},
        **report.environment(),
        "settings": {
            **asdict(o),
            "warmup_repetitions_dropped": 1,
            "warmup_steps_per_run": WARMUP_STEPS,
            "min_seconds_to_compare": MIN_SECONDS,
            "optimizer": {"name": "SGD", "lr": o.lr, "momentum": o.momentum},
            "data": data.source,
        },
        "timed": sys.modules["tfnn.bench.contenders"].__doc__,
        "unit": "samples per second (training samples / timed seconds); ratio = median / "
        "baseline median, > 1 is faster; None when a run is too short to compare",
        "workloads": timed,
        "skipped": skipped,
        "overhead": _overhead(o.models, o.quick),
        "plots": [],
        "plot_note": None,
    }
    results["wall_seconds"] = time.perf_counter() - started
    results["table"] = report.format_table(results)
    if out is not None:
        _write(out, results, median_runs if plots else None)
    return results


def time_workloads(
    workloads: list[Any],
    contenders: list[Any],
    repeats: int,
    baseline: str | None,
    guard_steps: int = 5,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Guard, then time every contender on every workload (module docstring, steps 2-3);
    return each workload's results and, per workload, each contender's median ``Run``.

    Example::

        timed, medians = time_workloads([make_workload("mlp", load_data(), 128, 50)],
                                        contenders_for(["numpy"], ["condition"], 2, [4])[0],
                                        repeats=3, baseline="numpy-loop")
    """
    from tqdm import tqdm

    from tfnn.bench.guard import guard
    from tfnn.bench.model import measure, median_run, summarize
    from tfnn.bench.report import workload_results

    total = len(workloads) * len(contenders) * (repeats + 2)
    bar = tqdm(total=total, unit="run", file=sys.stderr, disable=None, leave=False)
    timed, medians = [], {}
    with bar:
        for w in workloads:
            bar.set_description(f"{w.name} guard")
            checked = guard(w, contenders, steps=guard_steps, progress=lambda: bar.update())
            bar.set_description(f"{w.name} timing")
            runs = measure(w, contenders, repeats, progress=lambda: bar.update())
            medians[w.name] = {n: median_run(rs) for n, rs in runs.items()}
            info = {
                "name": w.name,
                "model": w.model,
                "layers": list(w.sizes),
                "batch_size": w.batch_size,
                "steps": w.steps,
                "epochs": w.epochs,
                "steps_per_epoch": w.steps_per_epoch,
                "samples_per_run": w.samples,
                "warmup_steps": w.warmup_steps,
                "guard": checked,
            }
            settings = {c.name: c.settings() for c in contenders}
            timed.append(workload_results(info, runs, summarize(runs, baseline), settings))
    return timed, medians


def _write(out: Path, results: dict[str, Any], median_runs: dict[str, Any] | None) -> None:
    from tfnn.bench import report

    out.mkdir(exist_ok=True)
    if median_runs is not None:
        try:
            results["plots"] = report.plot(results, median_runs, out)
        except ImportError:
            results["plot_note"] = "matplotlib is not installed: pip install 'tfnn[bench]'"
            print(f"tfnn bench: no plots, {results['plot_note']}", file=sys.stderr)
    report.write_json(out / "results.json", results)


def _overhead(models: list[str], quick: bool) -> dict[str, Any]:
    from tfnn import nn, optim
    from tfnn.bench.overhead import task_overhead, tasks_per_step
    from tfnn.bench.workload import MODELS, load_data
    from tfnn.train import Trainer

    data = load_data(None)
    n = 4 * 32

    def fit(path: Path, sizes: tuple[int, ...]) -> int:
        model = nn.mlp(sizes)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        trainer = Trainer(model, nn.SoftmaxCrossEntropy(), opt, strategy="condition", workers=2)
        return trainer.fit(data.x_train[:n], data.y_train[:n], 1, 32, trace=path).steps

    return {
        "unit": "microseconds per no-op task, tfnn Executor, interleaved; repetition 0, "
        "which also prepares each graph for its first run, is dropped",
        "per_task": task_overhead(size=300 if quick else 2000, repeats=2 if quick else 5),
        "condition_tasks_per_step": {
            m: tasks_per_step(functools.partial(fit, sizes=MODELS[m])) for m in models
        },
    }
