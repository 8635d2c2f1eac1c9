#!/usr/bin/env bash
# The GPU check: run from the repository root on a machine with an NVIDIA GPU, in under
# 5 minutes. cupy, numpy, torch and pytest are expected installed; array-api-compat may come
# as a wheel in a folder (WHEELS, default ./.whl, as the device machine's notes carry wheels)
# and is installed from there, offline.
#
#   bash bench/gpu_check.sh                 # results under bench/results/gpu (OUT=... to move)
#
# Steps, each under its own timeout: GPU name (nvidia-smi); `pytest -m gpu`; the CUDA streams
# micro-benchmark (bench/streams.py: two matmul chains, 1 stream vs 2 and 4); `tfnn bench`
# for tfnn on cupy (stream pools of 1 = off and 4 = on) against PyTorch CUDA and numpy on
# the CPU, at batch sizes 128 and 1024, with its table printed.
set -euo pipefail

cd "$(dirname "$0")/.."
export PYTHONPATH=".${PYTHONPATH:+:${PYTHONPATH}}"
PYTHON="${PYTHON:-python}"
WHEELS="${WHEELS:-.whl}"
OUT="${OUT:-bench/results/gpu}"
mkdir -p "${OUT}"

step() {
    printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"
}

step "GPU"
timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

step "array-api-compat"
if ! "${PYTHON}" -c "import array_api_compat" 2>/dev/null; then
    timeout 60 "${PYTHON}" -m pip install --no-index --find-links "${WHEELS}" array-api-compat
fi
timeout 60 "${PYTHON}" -m tfnn info

step "GPU tests: pytest -m gpu"
timeout 120 "${PYTHON}" -m pytest -m gpu -q -p no:cacheprovider

step "CUDA streams through the Executor (bench/streams.py)"
timeout 60 "${PYTHON}" bench/streams.py --sizes 1024,4096 --streams 1,2,4 --length 20 \
    --repeats 5 --json "${OUT}/streams.json"

step "tfnn bench: cupy (streams off/on) vs torch CUDA vs numpy CPU"
timeout 150 "${PYTHON}" -m tfnn bench --backends numpy,cupy --strategies sequential,condition \
    --models mlp,taskflow-mnist --batch-sizes 128,1024 --streams 1,4 --steps 50 --repeats 3 \
    --out "${OUT}/bench"

step "done: ${OUT}/streams.json, ${OUT}/bench/results.json and plots"
