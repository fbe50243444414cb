#!/usr/bin/env bash
# Side-by-side speed of Tomalign's CPU path and IMOD on the same files and cores, alternating (issue 17).
#
#   bench/imod-side-by-side.sh [--size 1024] [--views 61] [--thickness 256] [--rounds 2] [--out DIR]
#
# Needs a Release build (dotnet build Gpu.sln -c Release) and IMOD's command-line programs built by
# ../shared/tools/build_imod.sh (PEERS, default $HOME/imod-peer, holds imod-env.sh). IMOD is a benchmark peer only:
# no test depends on it.
#
# What runs, per round (Tomalign first in odd rounds, IMOD first in even ones):
#   WBP   IMOD:     tilt -InputProjections S -OutputFile R -TILTFILE T -THICKNESS N -RADIAL 0.35,0.0495 -OFFSET 0,0.5 -SHIFT 0,Z -MODE 2
#         Tomalign: tomalign reconstruct S --angles T --thickness N --radial 0.35,0.035 --layout imod --device cpu
#   on one simulated stack of SIZE²×VIEWS (tilt axis along Y, so it is an aligned stack for both programs).
# Prints wall seconds and peak resident memory (GNU time) of each, the ratio, and the correlation of the two volumes
# (the same layout, so they should agree closely; Debian python3-mrcfile, /usr/bin/python3). The stack is simulated once; nothing is written outside DIR.
# RADIAL/OFFSET/SHIFT as NAME.tilt.com writes them (Z = −0.5 for an even N): tilt's fall-off is exp(−(d/f)²), Tomalign's a
# Gaussian sigma (f = σ√2); tilt's axis and slab centre are half a pixel below Tomalign's (docs/FORMATS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
size=1024; views=61; thick=256; rounds=2; out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2;; --views) views=$2; shift 2;; --thickness) thick=$2; shift 2;;
    --rounds) rounds=$2; shift 2;; --out) out=$2; shift 2;; *) echo "unknown option $1" >&2; exit 2;;
  esac
done
# shellcheck source=tools/imod-peer.sh
source tools/imod-peer.sh
[ -x /usr/bin/time ] || { echo "GNU time is missing: apt-get install time" >&2; exit 2; }
out=${out:-$(mktemp -d)}
mkdir -p "$out"
step=$(python3 -c "print(120/($views-1))")
zshift=$(python3 -c "print(-0.5 if $thick % 2 == 0 else 0)")
if [ ! -f "$out/s.mrc" ]; then
  echo "simulating ${size}²×${views} (tilt axis along Y) in $out ..."
  "$T" simulate --out "$out" --name s --size "$size" --tilt-step "$step" --tilt-axis 0 --drift 0 --rotation-jitter 0 \
    --mag-jitter 0 --tilt-error 0 --seed 17 -q
fi
cores=$(nproc)
echo "machine: $cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "IMOD: $(tilt 2>&1 </dev/null | grep -m1 -i 'version' || echo 'tilt (version not printed)')"
run_imod() {
  /usr/bin/time -f "%e %M" -o "$out/time.imod" tilt -InputProjections "$out/s.mrc" -OutputFile "$out/imod.rec" \
    -TILTFILE "$out/s.rawtlt" -THICKNESS "$thick" -RADIAL 0.35,0.0495 -OFFSET 0,0.5 -SHIFT "0,$zshift" -MODE 2 > "$out/imod.log" 2>&1
  read -r s m < "$out/time.imod"; echo "$s $m"
}
run_tomalign() {
  /usr/bin/time -f "%e %M" -o "$out/time.tomalign" "$T" reconstruct "$out/s.mrc" --angles "$out/s.rawtlt" --thickness "$thick" \
    --radial 0.35,0.035 --layout imod --device cpu --out "$out/tomalign.rec" -q > "$out/tomalign.log" 2>&1
  read -r s m < "$out/time.tomalign"; echo "$s $m"
}
printf '%-6s %-9s %10s %12s\n' round program wall_s peak_rss_MB
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order="tomalign imod"; else order="imod tomalign"; fi
  for p in $order; do
    read -r s m <<< "$(run_$p)"
    printf '%-6s %-9s %10s %12s\n' "$r" "$p" "$s" "$((m / 1024))"
    echo "$p $s $m" >> "$out/times.txt"
  done
done
/usr/bin/python3 - "$out" <<'EOF'
import sys, statistics, mrcfile, numpy as np
out = sys.argv[1]
t = {}
for line in open(f"{out}/times.txt"):
    p, s, m = line.split(); t.setdefault(p, []).append(float(s))
ti, tt = statistics.median(t["imod"]), statistics.median(t["tomalign"])
print(f"median wall: IMOD tilt {ti:.2f} s, tomalign reconstruct {tt:.2f} s; tomalign/IMOD = {tt/ti:.2f} (issue 17 asks <= 0.5)")
with mrcfile.open(f"{out}/imod.rec", permissive=True) as a, mrcfile.open(f"{out}/tomalign.rec", permissive=True) as b:
    x, y = a.data.astype(np.float64).ravel(), b.data.astype(np.float64).ravel()
    print(f"volumes {a.data.shape} and {b.data.shape}; correlation {np.corrcoef(x, y)[0,1]:.4f}" if x.size == y.size
          else f"volumes differ in shape: {a.data.shape} vs {b.data.shape}")
EOF
