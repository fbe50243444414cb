#!/usr/bin/env bash
# Issue 8's GPU checks in one run, for a session that is lent a GPU machine (it has the CUDA driver, no .NET SDK).
# Here:            ../shared/tools/gpu-pack            (builds .gpu/app.tar.xz, a self-contained src/Cli)
# On the machine:  run with carry [".gpu/app.tar.xz"] and the command
#                  tar -xJf .gpu/app.tar.xz -C .gpu && tools/gpu-checks.sh "$OUT"
# Everything it measures lands in OUT (the JSON reports and a log); copy the numbers, with the date and the GPU's
# name, into docs/PERFORMANCE.md. Each step has its own time limit so that one slow step does not eat the others.
set -uo pipefail
out=${1:?usage: tools/gpu-checks.sh OUT_DIR}
app=.gpu/app/tomalign
[ -x "$app" ] || app=.gpu/app/Tomalign.Cli
mkdir -p "$out"
log="$out/gpu-checks.log"
# The whole script keeps to GPU_CHECKS_BUDGET seconds (default 450: one device call of under 8 minutes); a step gets
# at most the time that is left and is skipped when under 20 s remain, so the later, bigger steps give way.
budget=${GPU_CHECKS_BUDGET:-450}
step() {
  local limit=$1; shift
  local left=$((budget - SECONDS))
  if [ "$left" -lt 20 ]; then echo "== skipped (budget spent): $*" | tee -a "$log"; return; fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $(date -u +%H:%M:%S) (limit ${limit}s) $*" | tee -a "$log"
  timeout "$limit" "$@" >>"$log" 2>&1; echo "   exit $?" | tee -a "$log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$log"
# 1. Kernel parity at full size on CUDA (every kernel against its CPU twin, fresh random inputs).
step 150 "$app" verify --device cuda
# 2. Stage table and the whole markerless run of issue 8's series, CPU and GPU side by side, with their agreement
#    (tomogram relative RMS difference, alignment difference over the field) in tomalign.bench.json.
step 200 "$app" bench --device cuda --size 2048 --views 41 --run --thickness 300 --bin 2 --repeats 2 --out "$out/bench"
# 3. The whole run on the GPU alone, wall time from the files to the tomogram (the 4 s target).
step 120 "$app" simulate --size 2048 --tilt-step 3 --out "$out/sim2048"
step 120 "$app" run "$out/sim2048/sim.mrc" --angles "$out/sim2048/sim.rawtlt" --tilt-axis 85 --markerless --thickness 300 --bin 2 \
  --device cuda --out "$out/run2048"
# 4. 4096×4096×61 in 16 GB of GPU memory (the per-stage device peaks are in run.json).
step 600 "$app" simulate --size 4096 --tilt-step 2 --out "$out/sim4096"
step 600 "$app" --gpu-memory 16G run "$out/sim4096/sim.mrc" --angles "$out/sim4096/sim.rawtlt" --tilt-axis 85 --markerless \
  --thickness 300 --bin 2 --device cuda --out "$out/run4096"
rm -rf "$out/sim2048" "$out/sim4096" "$out"/run*/*.ali "$out"/run*/*.rec "$out"/bench/bench-run   # keep the reports, not the volumes
