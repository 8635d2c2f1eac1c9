"""What a benchmark run reports: machine facts, the table, ``results.json`` and the plots.

``environment()`` records what a number depends on: platform, CPU model (/proc/cpuinfo),
cores, GPU names, library versions, the BLAS libraries and their thread counts
(threadpoolctl), torch's thread count and the thread-related environment variables
(``OPENBLAS_CORETYPE`` among them, left as the user set it). Plots need matplotlib
(``pip install 'tfnn[bench]'``); without it they are skipped with a note.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import Any

ENVIRONMENT_VARIABLES = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TFNN_BACKEND",
    "TFNN_DEVICE",
    "TFNN_DATA_DIR",
)

SCHEMA = "tfnn-bench/1"
REQUIRED_KEYS = (
    "schema",
    "command",
    "machine",
    "versions",
    "blas",
    "threads",
    "environment",
    "settings",
    "timed",
    "workloads",
    "skipped",
    "overhead",
    "plots",
)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Machine, versions, BLAS and threads as one dict (see the module docstring)."""
    from threadpoolctl import threadpool_info

    from tfnn.backends import describe_backends

    infos = describe_backends()
    gpus = sorted({d.name for info in infos for d in info.devices if d.device.startswith("cuda")})
    versions = {info.name: info.version for info in infos}
    versions["python"] = sys.version.split()[0]
    versions["tfnn"] = _version("tfnn")
    versions["threadpoolctl"] = _version("threadpoolctl")
    threads: dict[str, Any] = {"cores": os.cpu_count()}
    # Other processes on the cores slow every contender, multi-threaded BLAS the most.
    threads["load_average_1_5_15_min"] = (
        list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    )
    if "torch" in sys.modules:
        threads["torch_default"] = sys.modules["torch"].get_num_threads()
    return {
        "machine": {
            "platform": platform.platform(),
            "architecture": platform.machine(),
            "cpu_model": cpu_model(),
            "cores": os.cpu_count(),
            "gpus": gpus,
        },
        "versions": versions,
        "blas": threadpool_info(),
        "threads": threads,
        "environment": {k: os.environ.get(k) for k in ENVIRONMENT_VARIABLES},
    }


def format_table(results: dict[str, Any]) -> str:
    """Plain text: one row per workload and contender, medians, min-max and ratios."""
    baseline = results["settings"]["baseline"]
    header = (
        "workload",
        "contender",
        "workers",
        "blas",
        "streams",
        "median samples/s",
        "min",
        "max",
        f"vs {baseline}",
    )
    rows = [header]
    for w in results["workloads"]:
        for name, c in w["contenders"].items():
            s = c["settings"]
            ratio = c["ratio"]
            rows.append(
                (
                    w["name"],
                    name,
                    str(s["workers"] or "-"),
                    str(s["blas_threads"]),
                    str(s["streams"] if s["device"] != "cpu" else "-"),
                    f"{c['median']:,.0f}",
                    f"{c['min']:,.0f}",
                    f"{c['max']:,.0f}",
                    f"{ratio:.2f}x" if ratio is not None else "-",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    right = {2, 3, 4, 5, 6, 7, 8}
    lines = [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    for w in results["workloads"]:
        g = w["guard"]
        lines.append(
            f"guard {w['name']}: {len(g['max_abs_diff'])} contenders agree after {g['steps']} "
            f"steps (max |weight difference| vs {g['reference']} "
            f"{max(g['max_abs_diff'].values()):.2g}"
            + ("; tfnn on numpy bitwise equal)" if g["bitwise_equal"] else ")")
        )
    overhead = results.get("overhead") or {}
    per_task = overhead.get("per_task") or {}
    if "chain" in per_task:
        chain = per_task["chain"]
        costs = ", ".join(f"{k} {v['median_us']:.2f} us" for k, v in chain.items())
        tasks = overhead.get("condition_tasks_per_step") or {}
        per_step = ", ".join(f"{m} {n:.0f}" for m, n in tasks.items())
        lines.append(
            f"executor cost per task (chain): {costs}; condition tasks per step: {per_step}"
        )
    by_reason: dict[str, list[str]] = {}
    for skipped in results["skipped"]:
        by_reason.setdefault(skipped["reason"], []).append(skipped["contender"])
    for reason, names in by_reason.items():
        lines.append(f"skipped {', '.join(names)}: {reason}")
    return "\n".join(lines)


def plot(
    results: dict[str, Any], runs: dict[str, dict[str, Any]], out: Path, prefix: str = ""
) -> list[str]:
    """Write throughput.png, loss_vs_time.png and overhead.png (when measured) into ``out``,
    each name after ``prefix``; return the names.

    ``runs`` maps workload name -> contender -> its median ``Run``. Raises ImportError
    when matplotlib is missing.
    """
    from matplotlib.figure import Figure

    workloads = results["workloads"]
    names = []
    rows = len(workloads)
    fig = Figure(figsize=(10, 1.2 + 0.35 * max(len(w["contenders"]) for w in workloads) * rows))
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax, w in zip(axes, workloads, strict=True):
        labels = list(w["contenders"])
        medians = [w["contenders"][n]["median"] for n in labels]
        low = [m - w["contenders"][n]["min"] for m, n in zip(medians, labels, strict=True)]
        high = [w["contenders"][n]["max"] - m for m, n in zip(medians, labels, strict=True)]
        colors = [_color(w["contenders"][n]["settings"]) for n in labels]
        ax.barh(labels, medians, xerr=[low, high], color=colors, capsize=3)
        ax.invert_yaxis()
        ax.set_title(f"{w['name']}: {w['steps']} steps (median, min-max)", fontsize=9)
        ax.set_xlabel("samples/s")
        ax.tick_params(axis="y", labelsize=7)
    fig.set_layout_engine("constrained")
    fig.savefig(out / f"{prefix}throughput.png", dpi=110)
    names.append(f"{prefix}throughput.png")

    fig = Figure(figsize=(8, 3.2 * rows))
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax, w in zip(axes, workloads, strict=True):
        palette = _palette(len(runs[w["name"]]))
        for (name, r), color in zip(runs[w["name"]].items(), palette, strict=True):
            if r.curve:
                ax.plot(
                    [p[0] for p in r.curve],
                    [p[2] for p in r.curve],
                    marker=".",
                    label=name,
                    color=color,
                    linestyle=_LINES.get(w["contenders"][name]["settings"]["backend"], "-"),
                    alpha=0.85,
                )
        ax.set_title(f"{w['name']}: training loss against time (median run)", fontsize=9)
        ax.set_xlabel("seconds")
        ax.set_ylabel("mean loss")
        ax.legend(fontsize=6)
    fig.set_layout_engine("constrained")
    fig.savefig(out / f"{prefix}loss_vs_time.png", dpi=110)
    names.append(f"{prefix}loss_vs_time.png")

    overhead = (results.get("overhead") or {}).get("per_task")
    if overhead:
        fig = Figure(figsize=(6, 3.5))
        ax = fig.subplots()
        graphs = list(overhead)
        executors = list(overhead[graphs[0]])
        width = 0.8 / len(executors)
        for k, label in enumerate(executors):
            xs = [i + k * width for i in range(len(graphs))]
            med = [overhead[g][label]["median_us"] for g in graphs]
            err = [
                [m - overhead[g][label]["min_us"] for m, g in zip(med, graphs, strict=True)],
                [overhead[g][label]["max_us"] - m for m, g in zip(med, graphs, strict=True)],
            ]
            ax.bar(xs, med, width, yerr=err, capsize=3, label=f"Executor {label}")
        ax.set_xticks([i + width * (len(executors) - 1) / 2 for i in range(len(graphs))])
        ax.set_xticklabels(graphs)
        ax.set_ylabel("microseconds per task")
        ax.set_title("tfnn executor overhead per no-op task (median, min-max)", fontsize=9)
        ax.legend(fontsize=7)
        fig.set_layout_engine("constrained")
        fig.savefig(out / f"{prefix}overhead.png", dpi=110)
        names.append(f"{prefix}overhead.png")
    return names


_LINES = {"numpy": "-", "torch": "--", "cupy": ":"}


def _palette(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [cmap(i % 20) for i in range(n)]


_COLORS = {"numpy": "tab:blue", "torch": "tab:orange", "cupy": "tab:green"}


def _color(settings: dict[str, Any]) -> str:
    if settings["kind"] == "numpy-loop":
        return "tab:gray"
    if settings["kind"] == "torch":
        return "tab:red" if settings["device"].startswith("cuda") else "tab:brown"
    return _COLORS.get(settings["backend"], "tab:purple")
