#!/usr/bin/env bash
# Bare ONNX Runtime throughput per execution provider (TensorRT, CUDA, CPU) on a GPU box:
# letterboxed frames at batch 1-32, and the regions workload (the crops of a far-view
# frame from 4-32 cameras per batch, batch 8-64; see benchmarks/README.md); then
# benchmarks/nvdec_streams.py: N-stream NVDEC decode plus inference at batch 8-64.
#
#   benchmarks/gpu_providers.sh [gpu_providers.py options, e.g. --seconds 3 --fp16]
#
# Creates a venv (default ~/.cache/lookout/venv-gpu, override with LOOKOUT_GPU_VENV)
# if needed, installs the project and onnxruntime-gpu (with the CUDA/cuDNN pip wheels)
# into it, then runs benchmarks/gpu_providers.py from the repository root. Results:
# a markdown table on stdout and out/bench/gpu_providers.json.
#
# Environment:
#   LOOKOUT_ASSETS        shared assets folder (default ../shared/assets)
#   LOOKOUT_GPU_VENV      venv folder
#   PYTHON                interpreter that creates the venv (default python3)
#   ORT_GPU_SPEC          pip spec of ONNX Runtime GPU (default "onnxruntime-gpu[cuda,cudnn]")
#   TENSORRT_SPEC         pip spec of the TensorRT libraries to add, e.g. "tensorrt-cu12-libs"
#                         (default none: TensorRT runs only if its libraries are installed)
#   SKIP_INSTALL=1        use the venv (or $PYTHON when no venv exists) as it is
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
venv="${LOOKOUT_GPU_VENV:-$HOME/.cache/lookout/venv-gpu}"
python="${PYTHON:-python3}"
ort_spec="${ORT_GPU_SPEC:-onnxruntime-gpu[cuda,cudnn]}"

if [[ "${SKIP_INSTALL:-0}" == 1 ]]; then
    if [[ -x "$venv/bin/python" ]]; then
        py="$venv/bin/python"
    else
        py="$python"
    fi
else
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "creating venv $venv" >&2
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --upgrade pip
    fi
    py="$venv/bin/python"
    has_cuda() {
        "$py" -c 'import onnxruntime as o, sys; sys.exit("CUDAExecutionProvider" not in o.get_available_providers())' 2>/dev/null
    }
    if ! has_cuda; then
        # The project depends on the CPU package `onnxruntime`; both packages provide the
        # same module, so install the project first, then swap in the GPU build.
        "$py" -m pip install --quiet -e .
        "$py" -m pip uninstall --quiet -y onnxruntime onnxruntime-gpu || true
        "$py" -m pip install --quiet "$ort_spec"
    else
        "$py" -m pip install --quiet --no-deps -e .
    fi
    if [[ -n "${TENSORRT_SPEC:-}" ]]; then
        "$py" -m pip install --quiet "$TENSORRT_SPEC"
    fi
fi

# TensorRT libraries installed from pip live in site-packages/tensorrt_libs.
trt_libs="$("$py" -c 'import os, tensorrt_libs; print(os.path.dirname(tensorrt_libs.__file__))' 2>/dev/null || true)"
if [[ -n "$trt_libs" ]]; then
    export LD_LIBRARY_PATH="$trt_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
else
    echo "nvidia-smi not found: only the CPU provider will be measured" >&2
fi
"$py" benchmarks/gpu_providers.py "$@"
# N-stream NVDEC decode plus inference at batch 8-64 (and the CPU decoder beside it);
# NVDEC_ARGS passes options, e.g. NVDEC_ARGS="--streams 16,32 --seconds 5".
# shellcheck disable=SC2086
exec "$py" benchmarks/nvdec_streams.py ${NVDEC_ARGS:-}
