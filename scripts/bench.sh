#!/usr/bin/env bash
# Benchmarks (not tests): prints JSON figures and keeps them in bench/out/.
#   native: `debm bench` on the CPU (flex) and on a GPU through wgpu when there is one;
#   peer:   PyTorch on the CPU: ../shared/bench/torch_ref.py (one contrastive iteration) and
#           ../shared/bench/torch_drl_ref.py (one recovery-likelihood update, the prototype; torch +
#           numpy from PyPI, in bench/.venv); and that PyTorch loads `debm export --safetensors`
#           with the same energies (scripts/safetensors_check.py, scripts/residual_check.py);
#   browser: DermaEBM through its worker API and TensorFlow.js on the same net and recipe, in Chromium.
# BENCH_SKIP=torch,browser,native skips parts.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
bash scripts/setup.sh
out=bench/out
mkdir -p "$out"
skip=",${BENCH_SKIP:-},"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "{\"machine\": \"$machine\", \"date\": \"$(date -u +%FT%TZ)\"}" | tee "$out/machine.json"

if [[ $skip != *,native,* ]]; then
  echo "== native (debm bench, the native profile)"
  cargo build --profile native --bin debm
  "$CARGO_TARGET_DIR/native/debm" bench --backend cpu | tee "$out/native-cpu.json"
  "$CARGO_TARGET_DIR/native/debm" bench --backend gpu --iterations 3 | tee "$out/native-gpu.json"
fi

if [[ $skip != *,torch,* ]]; then
  echo "== PyTorch CPU (the reference recipe, ../shared/bench/torch_ref.py)"
  if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install --quiet torch numpy safetensors
  fi
  # A venv made before the safetensors check.
  bench/.venv/bin/python -c "import safetensors" 2>/dev/null || bench/.venv/bin/pip install --quiet safetensors
  bench/.venv/bin/python ../shared/bench/torch_ref.py --data ../shared/data/dermamnist-ham10000-28.npz --iters 5 | tee "$out/torch-cpu.json"
  echo "== PyTorch CPU (a recovery-likelihood update of the prototype, ../shared/bench/torch_drl_ref.py)"
  drl=$(mktemp -d)
  bench/.venv/bin/python ../shared/bench/torch_drl_ref.py train --out "$drl" --iters 6 --minutes 10 --threads "$(nproc)" >/dev/null
  # The first update warms up; the rest are timed (seconds per update, as the prototype logs them).
  python3 -c "import json, statistics, sys; s = [json.loads(l)['s'] for l in open(sys.argv[1])][1:]; print(json.dumps({'recipe': 'recovery', 'peer': 'torch_drl_ref.py (base width 32 = width 64 here, T 6, K 30, batch 128)', 'update_seconds': {'median': statistics.median(s), 'min': min(s), 'all': s}, 'threads': int(sys.argv[2])}))" "$drl/log.jsonl" "$(nproc)" | tee "$out/torch-drl-cpu.json"
  rm -rf "$drl"
  echo "== PyTorch loads the safetensors export (scripts/safetensors_check.py: its energies vs debm score, val split)"
  cargo build --profile native --bin debm --quiet
  bench/.venv/bin/python scripts/safetensors_check.py --debm "$CARGO_TARGET_DIR/native/debm" | tee "$out/torch-safetensors.json"
  bench/.venv/bin/python scripts/residual_check.py --debm "$CARGO_TARGET_DIR/native/debm" | tee "$out/torch-safetensors-residual.json"
fi

if [[ $skip != *,browser,* ]]; then
  echo "== browser (Chromium): DermaEBM worker API and TensorFlow.js"
  (cd bench && { [ -d node_modules ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] || npm ci --no-audit --no-fund; })
  bash scripts/build-web.sh >/dev/null
  wasm=pkg/dermaebm_bg.wasm
  echo "{\"wasm_bytes\": $(wc -c <"$wasm"), \"wasm_gzip9_bytes\": $(gzip -9 -c "$wasm" | wc -c)}" | tee "$out/size.json"
  node scripts/probe-start.mjs 3 | tee "$out/start.jsonl"
  node bench/run.mjs "$@" | tee "$out/browser.jsonl"
fi
