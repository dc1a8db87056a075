#!/usr/bin/env bash
# The GPU proof in one go, on a GPU machine, from the repository's root, with .wheels/ carried (tests/gpu/wheels.py):
#
#     bash tests/gpu/run.sh "$OUT"                      # the device tool's call: carry=[".wheels"], timeout_s=600
#     bash tests/gpu/run.sh --rehearse results-here     # here, without CUDA: the same steps as far as they go, with
#                                                       # this checkout's environment, the tests skipping, --quick
#
# Installs what the machine lacks from .wheels/ (no registry there) and antelope itself (editable, for the `ml`
# script), checks the GPU, runs the GPU test layer (pytest -m gpu) and then tests/benchmarks/bench_gpu.py, and writes
# everything into the folder given: log.txt (all of it), tests.txt, bench.txt, machine.txt. Estimated 6 minutes on one
# H100: about 40 s to install 36 MiB of wheels; the 18 GPU tests are short runs (60 steps), each a few seconds of
# MLflow and start-up as on the CPU here, about 2 minutes; the benchmark about 3 (235 steps of a ResNet-9 at batch 512
# are a few seconds a side, torch.compile's pair some 80 s, the recipe's 8 epochs seconds). Each part has its own
# limit (200 s, 240 s), so that all of it ends within 8 minutes and a hang leaves the rest its time.
set -uo pipefail
rehearse=false
if [ "${1:-}" = --rehearse ]; then rehearse=true; shift; fi
out=${1:-${OUT:-gpu-results}}
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
started=$SECONDS

py=python3 quick=""
if $rehearse; then  # this checkout's environment already has everything; the wheels are cp312 for the GPU machine
    py=${PYTHON:-$PWD/.venv/bin/python}; quick=--quick
    echo "== rehearsal: no install; $("$py" --version); the wheel set checked for Python 3.12"
    "$py" tests/gpu/wheels.py --check || exit 1
else
    echo "== install ($("$py" --version))"
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .wheels/*.whl || { echo "gpu: the wheels did not install"; exit 1; }
    export PYTHONPATH=/tmp/site
    "$py" -m pip install -q --no-index --no-deps --no-build-isolation -e . || { echo "gpu: antelope did not install"; exit 1; }
fi
"$py" - <<'PY' || { echo "gpu: an import failed (a wheel missing from tests/gpu/wheels.py's set?)"; exit 1; }
import importlib
for name in ("mlflow", "mlflow.pytorch", "optuna", "hydra", "omegaconf", "gymnasium", "tenacity", "antelope.cli"):
    importlib.import_module(name)
from antelope import ml  # noqa: F401
print("imports: fine")
PY

echo "== machine"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
} | tee "$out/machine.txt"
if ! "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu: no CUDA device"; $rehearse || exit 1
fi

echo "== GPU test layer (pytest -m gpu) at $((SECONDS - started)) s"
gpu_tests=$(grep -l "mark.gpu" tests/test_*.py)  # the files with GPU tests: the others may import what is not there
timeout 200 "$py" -m pytest -m gpu -p no:cacheprovider -rs -q $gpu_tests 2>&1 | tee "$out/tests.txt"
tests=${PIPESTATUS[0]}

echo "== bench_gpu.py at $((SECONDS - started)) s"
timeout 240 "$py" tests/benchmarks/bench_gpu.py $quick 2>&1 | tee "$out/bench.txt"
bench=${PIPESTATUS[0]}

echo "== done in $((SECONDS - started)) s: tests exit $tests, benchmark exit $bench"
[ "$tests" = 0 ] && [ "$bench" = 0 ]
