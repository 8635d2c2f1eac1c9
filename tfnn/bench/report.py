"""What a benchmark reports: machine facts, the table, the results JSON and the plots.

``environment()`` records what a number depends on: platform, CPU model (/proc/cpuinfo),
cores, GPU names, library versions, the BLAS libraries and their thread counts
(threadpoolctl), torch's thread count, the load average, and the thread-related
environment variables (``OPENBLAS_CORETYPE`` among them, left as the user set it);
``write_json`` writes a results dict with it. ``format_table`` prints one row per
workload and contender (``workload_results``' layout: ``tfnn.bench.model.Stats`` plus the
contender's settings). Plots need matplotlib (``pip install 'tfnn[bench]'``); ``plot``
raises ImportError without it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tfnn.bench.model import MIN_SECONDS, Run, Stats, median_run

ENVIRONMENT_VARIABLES = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TFNN_BACKEND",
    "TFNN_DEVICE",
    "TFNN_DATA_DIR",
)

SCHEMA = "tfnn-bench/2"


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


def workload_results(
    info: Mapping[str, Any],
    runs: Mapping[str, list[Run]],
    stats: Mapping[str, Stats],
    settings: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    """One workload's JSON: ``info``, then per contender its stats, settings and the loss
    curve of its median run.

    Example::

        workload_results({"name": "mlp/b128"}, runs, summarize(runs, "numpy-loop"), settings)
    """
    contenders = {}
    for name, rs in runs.items():
        curve = median_run(rs).curve
        contenders[name] = {
            **stats[name].to_dict(),
            "settings": settings[name],
            "loss_curve": [{"seconds": t, "step": s, "loss": v} for t, s, v in curve],
        }
    return {**info, "contenders": contenders}


def write_json(path: Path, results: Mapping[str, Any]) -> None:
    """``results`` as indented JSON (numpy values as lists, anything else as text)."""
    path.write_text(json.dumps(results, indent=2, default=_plain))


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


TABLE_HEADER = ("workload", "contender", "workers", "blas", "streams")
TABLE_STATS = ("median samples/s", "min", "max")


def format_table(results: Mapping[str, Any]) -> str:
    """Plain text: one row per workload and contender, medians, min-max and ratios, then
    the guard, the executor's cost and the skipped contenders, one line each."""
    baseline = results["settings"]["baseline"]
    rows = [(*TABLE_HEADER, *TABLE_STATS, f"vs {baseline}")]
    for w in results["workloads"]:
        for name, c in w["contenders"].items():
            s = c["settings"]
            rows.append(
                (
                    w["name"],
                    name,
                    str(s.get("workers") or "-"),
                    str(s.get("blas_threads") or "-"),
                    str(s["streams"] if s.get("device", "cpu") != "cpu" else "-"),
                    *(f"{c[k]:,.0f}" for k in ("median", "min", "max")),
                    _ratio(c, baseline in w["contenders"]),
                )
            )
    lines = _aligned(rows, left=2)
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines + _notes(results))


def _ratio(stats: Mapping[str, Any], has_baseline: bool) -> str:
    if stats["ratio"] is not None:
        return f"{stats['ratio']:.2f}x"
    return "too short" if has_baseline else "-"


def _aligned(rows: Sequence[Sequence[str]], left: int) -> list[str]:
    """Columns padded to their widest cell: the first ``left`` to the left, the rest right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i < left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _notes(results: Mapping[str, Any]) -> list[str]:
    lines = []
    if any(c["ratio"] is None for w in results["workloads"] for c in w["contenders"].values()):
        baseline = results["settings"]["baseline"]
        if any(baseline in w["contenders"] for w in results["workloads"]):
            lines.append(
                f"too short: a run under {MIN_SECONDS} s (the row's or {baseline}'s) is not "
                "compared: fixed costs (executor start, graph building, the last sync) weigh "
                "on it; give more --steps to compare"
            )
    for w in results["workloads"]:
        g = w.get("guard")
        if g is None:
            continue
        lines.append(
            f"guard {w['name']}: {len(g['max_abs_diff'])} contenders agree after {g['steps']} "
            f"steps (max |weight difference| vs {g['reference']} "
            f"{max(g['max_abs_diff'].values()):.2g}"
            + ("; tfnn on numpy bitwise equal)" if g["bitwise_equal"] else ")")
        )
    overhead = results.get("overhead") or {}
    chain = (overhead.get("per_task") or {}).get("chain")
    if chain:
        costs = ", ".join(f"{k} {v['median_us']:.2f} us" for k, v in chain.items())
        tasks = overhead.get("condition_tasks_per_step") or {}
        per_step = ", ".join(f"{m} {n:.0f}" for m, n in tasks.items())
        lines.append(
            f"executor cost per task (chain): {costs}; condition tasks per step: {per_step}"
        )
    by_reason: dict[str, list[str]] = {}
    for skipped in results.get("skipped", []):
        by_reason.setdefault(skipped["reason"], []).append(skipped["contender"])
    lines += [f"skipped {', '.join(names)}: {reason}" for reason, names in by_reason.items()]
    return lines


def plot(
    results: Mapping[str, Any], runs: Mapping[str, Mapping[str, Run]], out: Path, prefix: str = ""
) -> list[str]:
    """Write throughput.png and loss_vs_time.png into ``out``, each name after ``prefix``;
    return the names.

    ``runs`` maps workload name -> contender -> its median ``Run``. Raises ImportError
    when matplotlib is missing.
    """
    from matplotlib.figure import Figure

    figures = {
        "throughput.png": _throughput(Figure(), results["workloads"]),
        "loss_vs_time.png": _loss_vs_time(Figure(), results["workloads"], runs),
    }
    for name, fig in figures.items():
        fig.set_layout_engine("constrained")
        fig.savefig(out / f"{prefix}{name}", dpi=110)
    return [f"{prefix}{name}" for name in figures]


def _throughput(fig: Any, workloads: Sequence[Mapping[str, Any]]) -> Any:
    most = max(len(w["contenders"]) for w in workloads)
    fig.set_size_inches(10, 1.2 + 0.35 * most * len(workloads))
    axes = fig.subplots(len(workloads), 1, squeeze=False)[:, 0]
    for ax, w in zip(axes, workloads, strict=True):
        stats = list(w["contenders"].values())
        medians = [c["median"] for c in stats]
        errors = [[c["median"] - c["min"] for c in stats], [c["max"] - c["median"] for c in stats]]
        colors = [_color(c["settings"]) for c in stats]
        ax.barh(list(w["contenders"]), medians, xerr=errors, color=colors, capsize=3)
        ax.invert_yaxis()
        ax.set_title(f"{w['name']}: {w['steps']} steps (median, min-max)", fontsize=9)
        ax.set_xlabel("samples/s")
        ax.tick_params(axis="y", labelsize=7)
    return fig


def _loss_vs_time(
    fig: Any, workloads: Sequence[Mapping[str, Any]], runs: Mapping[str, Mapping[str, Run]]
) -> Any:
    from matplotlib import colormaps

    fig.set_size_inches(8, 3.2 * len(workloads))
    axes = fig.subplots(len(workloads), 1, squeeze=False)[:, 0]
    for ax, w in zip(axes, workloads, strict=True):
        for i, (name, r) in enumerate(runs[w["name"]].items()):
            backend = w["contenders"][name]["settings"].get("backend")
            ax.plot(
                [p[0] for p in r.curve],
                [p[2] for p in r.curve],
                marker=".",
                label=name,
                color=colormaps["tab20"](i % 20),
                linestyle={"torch": "--", "cupy": ":"}.get(backend, "-"),
                alpha=0.85,
            )
        ax.set_title(f"{w['name']}: training loss against time (median run)", fontsize=9)
        ax.set_xlabel("seconds")
        ax.set_ylabel("mean loss")
        ax.legend(fontsize=6)
    return fig


def _color(settings: Mapping[str, Any]) -> str:
    if settings.get("kind") == "numpy-loop":
        return "tab:gray"
    if settings.get("kind") == "torch":
        return "tab:red" if settings["device"].startswith("cuda") else "tab:brown"
    return {"numpy": "tab:blue", "torch": "tab:orange", "cupy": "tab:green"}.get(
        settings.get("backend", ""), "tab:purple"
    )
