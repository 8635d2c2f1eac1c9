#!/usr/bin/env bash
# The GPU check: every GPU test and benchmark of tfnn in one call, on a machine with an
# NVIDIA GPU, in under 9 minutes (the per-step timeouts below add up to 535 s).
#
#   bash bench/gpu_check.sh [--dry-run] [--only STEP,STEP...]
#
# Each step runs on its own, under its own timeout, whatever the steps before it did; it
# writes OUT/NAME.log as it goes and appends "NAME STATUS SECONDS" to OUT/status.tsv when
# it ends (STATUS: ok, failed (exit N), timeout, or skipped). The summary is printed and
# written to OUT/summary.txt at the end; the exit status is 1 if any step failed or timed
# out. --dry-run writes the logs, statuses and summary without running anything (every
# step "skipped"); --only runs the named steps and marks the others skipped.
#
# Settings (environment): PYTHON (default: python, else python3), OUT (default
# ./gpu_out), WHEELS (default ./.whl): tfnn needs array-api-compat, which the GPU
# machines here lack and cannot download, so the "deps" step installs it offline from a
# wheel in WHEELS into /tmp/tfnn-site. The wheel is pure Python; fetch it once beside the
# tree (.whl/ is git-ignored, so it must be carried):
#
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl array-api-compat==1.16.0
#
# and run the check through the device tool as
#
#   run(command="OUT=$OUT bash bench/gpu_check.sh", carry=[".whl"], timeout_s=580)
#
# Steps (to add one: a line in main() with a name, a timeout in seconds and a command):
#   gpu     nvidia-smi: the card, its driver and memory
#   deps    array-api-compat from WHEELS when missing; `tfnn info`
#   tests   pytest -m gpu (the backend fixture's cupy and torch CUDA cases, stream tests)
#   streams bench/streams.py: two matmul chains through the Executor, 1 stream vs 2 and 4
#   bench   tfnn bench: tfnn on cupy (streams 1 and 4) vs torch CUDA (eager) vs numpy on the
#           CPU, both networks, batch 128 and 1024; table, results.json and plots
#   mpi     `mpiexec -n 2 tfnn train --backend cupy --distributed mpi`: data parallel on the
#           GPUs (rank r on cuda:(r mod count)), gradients staged through host memory unless
#           the MPI is CUDA-aware; "skipped" in its log without mpi4py or mpiexec
#   nccl    the same with `--distributed nccl` (gradients GPU to GPU through cupy's NCCL);
#           "skipped" in its log, with the reason, without NCCL or with fewer than 2 GPUs
#           (NCCL refuses two ranks on one GPU)
set -uo pipefail

cd "$(dirname "$0")/.."
export PYTHONPATH=".${PYTHONPATH:+:${PYTHONPATH}}"
export PYTHONUNBUFFERED=1
if [[ -z "${PYTHON:-}" ]]; then
    PYTHON=python
    command -v python >/dev/null 2>&1 || PYTHON=python3
fi
OUT="${OUT:-./gpu_out}"
WHEELS="${WHEELS:-.whl}"
DRY_RUN=0
ONLY=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --only) ONLY=",$2,"; shift ;;
        *) echo "gpu_check.sh: unknown argument $1 (use --dry-run, --only STEP,...)" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "${OUT}"
: >"${OUT}/status.tsv"

# run_step NAME TIMEOUT COMMAND...: run one step, log it, record its status; never exits.
run_step() {
    local name="$1" limit="$2"
    shift 2
    local log="${OUT}/${name}.log" status begin rc
    printf '\n== %s (%s, timeout %ss)\n' "${name}" "$(date -u +%H:%M:%S)" "${limit}"
    printf '$ %s\n' "$*" >"${log}"
    begin=$(date +%s)
    if [[ ${DRY_RUN} == 1 || ( -n "${ONLY}" && "${ONLY}" != *",${name},"* ) ]]; then
        status=skipped
        echo "skipped" | tee -a "${log}"
    else
        timeout --kill-after=10 "${limit}" "$@" 2>&1 | tee -a "${log}"
        rc=${PIPESTATUS[0]}
        case ${rc} in
            0) status=ok ;;
            124 | 137) status=timeout ;;
            *) status="failed (exit ${rc})" ;;
        esac
    fi
    printf '%s\t%s\t%s\n' "${name}" "${status}" "$(($(date +%s) - begin))" >>"${OUT}/status.tsv"
}

install_deps() {
    if ! "${PYTHON}" -c "import array_api_compat" 2>/dev/null; then
        if ! ls "${WHEELS}"/array_api_compat-*.whl >/dev/null 2>&1; then
            echo "array-api-compat is missing and ${WHEELS} holds no wheel of it;" \
                "see the header of bench/gpu_check.sh for the one-time download"
            return 1
        fi
        "${PYTHON}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target /tmp/tfnn-site "${WHEELS}"/array_api_compat-*.whl || return 1
    fi
    "${PYTHON}" -m tfnn info
}

# mpi_check MODE: 2 ranks of tfnn train on cupy with --distributed MODE (mpi or nccl).
mpi_check() {
    local mode="${1:-mpi}" mpiexec
    mpiexec="$(dirname "$(command -v "${PYTHON}")")/mpiexec"
    [[ -x "${mpiexec}" ]] || mpiexec="$(command -v mpiexec)"
    if ! "${PYTHON}" -c "import mpi4py" 2>/dev/null || [[ -z "${mpiexec}" ]]; then
        echo "skipped: no mpi4py or mpiexec here (pip install 'tfnn[mpi]')"
        return 0
    fi
    if [[ "${mode}" == nccl ]]; then
        local why
        why="$("${PYTHON}" -c "$(printf '%s\n' \
            'from tfnn.parallel.nccl import nccl_status' \
            'import importlib' \
            'why = nccl_status()' \
            'gpus = 0 if why else importlib.import_module("cupy").cuda.runtime.getDeviceCount()' \
            'print(why or (f"{gpus} GPU here, 2 ranks need 2" if gpus < 2 else ""))')" 2>&1)"
        if [[ -n "${why}" ]]; then
            echo "skipped: ${why}"
            return 0
        fi
    fi
    local extra=()
    if "${mpiexec}" --version 2>&1 | grep -q "Open MPI"; then
        extra=(--oversubscribe --allow-run-as-root)
    fi
    "${mpiexec}" "${extra[@]}" -n 2 "${PYTHON}" -m tfnn train --backend cupy \
        --distributed "${mode}" --epochs 2 --eval-every 20 --trace "${OUT}/${mode}-trace.json"
}

main() {
    # Later steps need array-api-compat, which the deps step may install here.
    export PYTHONPATH="${PYTHONPATH}:/tmp/tfnn-site"
    run_step gpu 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    run_step deps 60 bash -c install_deps
    run_step tests 120 "${PYTHON}" -m pytest -m gpu -q -p no:cacheprovider
    run_step streams 60 "${PYTHON}" bench/streams.py --sizes 1024,4096 --streams 1,2,4 \
        --length 20 --repeats 5 --json "${OUT}/streams.json"
    run_step bench 190 "${PYTHON}" -m tfnn bench --backends numpy,cupy \
        --strategies condition --models mlp,taskflow-mnist --batch-sizes 128,1024 \
        --streams 1,4 --steps 50 --repeats 3 --out "${OUT}/bench"
    run_step mpi 45 bash -c "mpi_check mpi"
    run_step nccl 40 bash -c "mpi_check nccl"
}

export -f install_deps mpi_check
export PYTHON WHEELS OUT
main
{
    echo "gpu_check summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), PYTHON=${PYTHON}, OUT=${OUT})"
    column -t -s $'\t' "${OUT}/status.tsv" 2>/dev/null || cat "${OUT}/status.tsv"
} | tee "${OUT}/summary.txt"
if cut -f2 "${OUT}/status.tsv" | grep -qv -e '^ok$' -e '^skipped$'; then
    exit 1
fi
exit 0
