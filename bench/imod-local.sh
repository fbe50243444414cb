#!/usr/bin/env bash
# IMOD's tilt against `tomalign reconstruct` with local alignments (issue 16): the same aligned stack, .tlt and NAMElocal.xf.
#
#   bench/imod-local.sh [--size 384] [--warp 3] [--thickness 80] [--out DIR]
#
# Simulates a bead series with a known local warp (simulate --local-warp), runs `tomalign run --local` on it (NAME.ali, NAME.tlt,
# NAMElocal.xf), then reconstructs the aligned stack four ways: IMOD tilt with and without LOCALFILE, tomalign reconstruct
# with and without --local-xf (both in tilt's slice-per-Y layout), and prints the correlation of IMOD's and Tomalign's volumes,
# as they are and with Tomalign's flipped in Z (a check that the orientation agrees: the flipped one should be low).
# Needs a Release build and IMOD (PEERS, default $HOME/imod-peer, holds imod-env.sh); Debian python3-mrcfile. No test depends on it.
set -euo pipefail
cd "$(dirname "$0")/.."
T=$PWD/src/Cli/bin/Release/net10.0/tomalign
PEERS=${PEERS:-$HOME/imod-peer}
size=384; warp=3; thick=80; out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2;; --warp) warp=$2; shift 2;; --thickness) thick=$2; shift 2;; --out) out=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
[ -x "$T" ] || { echo "no Release build at $T: run dotnet build Gpu.sln -c Release" >&2; exit 2; }
[ -f "$PEERS/imod-env.sh" ] || { echo "no IMOD build at $PEERS" >&2; exit 2; }
# shellcheck disable=SC1091
source "$PEERS/imod-env.sh"
out=${out:-$(mktemp -d)}
mkdir -p "$out"
if [ ! -f "$out/run/slocal.xf" ]; then
  "$T" simulate --out "$out" --name s --size "$size" --beads 30 --local-warp "$warp" --seed 5 -q
  "$T" run "$out/s.mrc" --angles "$out/s.rawtlt" --tilt-axis 85 --bead-diameter 10 --thickness "$thick" --local \
    --device cpu --out "$out/run" -q || [ $? -eq 4 ]
fi
r=$out/run
# tilt's entries as NAME.tilt.com writes them (tools/imod-tilt-check.sh): its RADIAL fall-off ×√2, the axis and slab centre on
# Tomalign's pixel (OFFSET 0,0.5, SHIFT 0,Z with Z = −0.5 for an even thickness).
zshift=$([ $((thick % 2)) -eq 0 ] && echo -0.5 || echo 0)
for kind in local global; do
  extra=(); [ "$kind" = local ] && extra=(-LOCALFILE "$r/slocal.xf")
  tilt -InputProjections "$r/s.ali" -OutputFile "$out/imod-$kind.rec" -TILTFILE "$r/s.tlt" -THICKNESS "$thick" -RADIAL 0.35,0.0495 \
    -OFFSET 0,0.5 -SHIFT "0,$zshift" -MODE 2 "${extra[@]}" > "$out/imod-$kind.log" 2>&1
done
"$T" reconstruct "$r/s.ali" --angles "$r/s.tlt" --thickness "$thick" --radial 0.35,0.035 --layout imod --local-xf "$r/slocal.xf" \
  --device cpu --out "$out/tomalign-local.rec" -q
"$T" reconstruct "$r/s.ali" --angles "$r/s.tlt" --thickness "$thick" --radial 0.35,0.035 --layout imod \
  --device cpu --out "$out/tomalign-global.rec" -q
/usr/bin/python3 - "$out" <<'PY'
import sys, mrcfile, numpy as np
out = sys.argv[1]
def vol(n):
    with mrcfile.open(f"{out}/{n}.rec", permissive=True) as m: return m.data.astype(np.float64)
def corr(a, b): return np.corrcoef(a.ravel(), b.ravel())[0, 1]
v = {n: vol(n) for n in ["imod-local", "imod-global", "tomalign-local", "tomalign-global"]}
print(f"volumes {v['imod-local'].shape} (Y sections of X × Z)")
for kind in ["local", "global"]:
    a, b = v[f"imod-{kind}"], v[f"tomalign-{kind}"]
    print(f"{kind:6s}: IMOD tilt vs tomalign reconstruct: correlation {corr(a, b):.4f} as is, {corr(a, b[:, ::-1, :]):.4f} with Z flipped")
dl, dt = v["imod-local"] - v["imod-global"], v["tomalign-local"] - v["tomalign-global"]
print(f"the local corrections (local − global), IMOD vs tomalign: correlation {corr(dl, dt):.4f} as is, {corr(dl, dt[:, ::-1, :]):.4f} with Z flipped")
print(f"IMOD local vs IMOD global {corr(v['imod-local'], v['imod-global']):.4f}; tomalign local vs global {corr(v['tomalign-local'], v['tomalign-global']):.4f}")
PY
