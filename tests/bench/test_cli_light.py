"""``import tfnn.cli`` and ``tfnn info`` never load the benchmark engine, torch or matplotlib."""

from __future__ import annotations

import subprocess
import sys


def test_bench_engine_loads_only_for_tfnn_bench():
    code = (
        "import sys, tfnn.cli\n"
        "tfnn.cli._parser()\n"
        "heavy = [m for m in ('matplotlib', 'tfnn.bench.contenders', 'tfnn.bench.guard')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
