#!/usr/bin/env bash
# The GPU check, prepared to run as is by a session that is lent a CUDA machine (<= 5 min):
#   1. the tests that are skipped without CUDA (tests/ -k cuda),
#   2. the device path against torchmetrics and plain torch on the GPU
#      (10^7 labels, (2·10^6, 10) scores, 16×512×512 masks, (10^6, 39) multi-label),
#      medians and ratios as a Markdown table for benchmarks/README.md.
#
# usage: benchmarks/gpu_check.sh          # on a CUDA machine
#        benchmarks/gpu_check.sh --cpu    # dry run on CPU, tiny sizes (or CONFSTREAM_GPU_CHECK_CPU=1)
# PYTHON=/path/to/python picks the interpreter (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
CPU=${CONFSTREAM_GPU_CHECK_CPU:-0}
if [[ "${1:-}" == "--cpu" ]]; then CPU=1; fi

echo "== gpu_check: $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
"$PY" - <<'PYEOF'
import torch
print("torch", torch.__version__, "| CUDA available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name(0), "| CUDA", torch.version.cuda)
PYEOF
if [[ "$CPU" != 1 ]] && ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "gpu_check: no CUDA device; run with --cpu for a dry run" >&2
    exit 2
fi

echo "== 1. CUDA tests (skipped without CUDA)"
# -p no:cacheprovider: the checkout may be read-only; -rs lists what was skipped and why
status=0
timeout 150 "$PY" -m pytest -q -rs -p no:cacheprovider -k cuda \
    tests/test_torch_tensors.py tests/test_torch_evaluate.py \
    tests/test_lightning.py tests/test_transformers.py || status=$?
# 5: nothing collected (not expected: the CUDA tests are always collected, then skipped)
if [[ $status -ne 0 ]]; then echo "gpu_check: CUDA tests failed (exit $status)" >&2; fi

echo "== 2. device path vs torchmetrics"
args=()
if [[ "$CPU" == 1 ]]; then args+=(--cpu); fi
timeout 150 "$PY" benchmarks/gpu_bench.py "${args[@]}" || status=$?
echo "== gpu_check done (exit $status)"
exit $status
