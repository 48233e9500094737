#!/usr/bin/env bash
# graphkd's CUDA checks (benchmarks/gpu_check.py) on a lent GPU machine, from the repository root.
#
# Here, once per session (the machine gets the working tree only: Cora's raw files and the one pure-Python
# dependency its image lacks travel in .gpu_check/, which git ignores through .git/info/exclude):
#     benchmarks/gpu_check.sh prepare
# Then, with the device tool: run(command="benchmarks/gpu_check.sh", carry=[".gpu_check"], timeout_s=600);
# the results come back from $OUT: copy gpu_check_<device>.{json,md} into benchmarks/results/ and commit them.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "prepare" ]; then
    grep -qx '/.gpu_check/' .git/info/exclude 2>/dev/null || echo '/.gpu_check/' >> .git/info/exclude
    mkdir -p .gpu_check/data/Cora .gpu_check/site
    cp -r "${GRAPHKD_SHARED_DATA:-../shared/data}/Cora/raw" .gpu_check/data/Cora/
    cp -r "$(.venv/bin/python -c 'import os, tomli_w; print(os.path.dirname(tomli_w.__file__))')" .gpu_check/site/
    du -sh .gpu_check
    exit 0
fi

export PYTHONPATH="$PWD:$PWD/.gpu_check/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export GRAPHKD_SHARED_DATA="$PWD/.gpu_check/data"  # the tests' copy of the shared data
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 benchmarks/gpu_check.py --root .gpu_check/data --out "${OUT:-benchmarks/results}" --quiet "$@" \
    2>&1 | tee "${OUT:-/tmp}/gpu_check.log"
