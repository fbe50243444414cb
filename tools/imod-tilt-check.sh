#!/usr/bin/env bash
# Tomalign's WBP against IMOD's tilt on the same files (issue 18). IMOD is a peer only: no test depends on it.
#
#   [SIZE=512] [VIEWS=61] [THICKNESS=96] [BIN=2] tools/imod-tilt-check.sh [OUT]
#
# Needs a Release build (dotnet build Gpu.sln -c Release), IMOD's programs built by ../shared/tools/build_imod.sh
# (PEERS, default $HOME/imod-peer, holds imod-env.sh) and Debian's python3-mrcfile (/usr/bin/python3).
#
# A. The same aligned stack (simulated with the tilt axis along Y, no errors, shot noise on), reconstructed by
#      tomalign reconstruct S --angles T --thickness N --layout imod --device cpu
#      tilt -InputProjections S -TILTFILE T -THICKNESS N -RADIAL 0.35,0.0495 -OFFSET 0,0.5 -SHIFT 0,Z -MODE 2
#    (OFFSET/SHIFT/RADIAL as NAME.tilt.com writes them: Z = −0.5 for an even N, 0 for an odd one), and with tilt's
#    plain entries (-RADIAL 0.35,0.035, no OFFSET/SHIFT) for comparison; then the same stack as mode-0 files in both
#    of IMOD's conventions (unsigned, IMOD stamp flags 0; signed, flags 1) through both programs.
# B. `tomalign run` on a simulated raw series (tilt axis 85°, --bin B, one view left out with --exclude-views):
#    IMOD's tilt runs NAME.tilt.com as written (on NAME.ali, the tilt section of the file on its standard input);
#    clip rotx (trimvol -rx) turns it into X-Y slices, compared with NAME.rec; and NAME.input.tilt.com on the user's
#    stack through newstack -linear -xform NAME.input.xf, then newstack -bin B (IMOD's own aligned stack, EXCLUDELIST of the view
#    left out).
# Prints the correlation of every pair of volumes, and where the simulated beads are found in IMOD's volume.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${SIZE:-512} views=${VIEWS:-61} thick=${THICKNESS:-96} bin=${BIN:-2} out=${1:-}
[ $# -le 1 ] || { echo "usage: [SIZE=512] [VIEWS=61] [THICKNESS=96] [BIN=2] tools/imod-tilt-check.sh [OUT]" >&2; exit 2; }
# shellcheck source=tools/imod-peer.sh
source tools/imod-peer.sh
out=${out:-$(mktemp -d)}
mkdir -p "$out"
cd "$out"
step=$(python3 -c "print(120/($views-1))")
zshift=$(python3 -c "print(-0.5 if $thick % 2 == 0 else 0)")
corr() { /usr/bin/python3 - "$@" <<'EOF'
import sys, mrcfile, numpy as np
a = mrcfile.open(sys.argv[1], permissive=True).data.astype(np.float64)
b = mrcfile.open(sys.argv[2], permissive=True).data.astype(np.float64)
if a.shape != b.shape: print(f"{sys.argv[3]}: shapes differ {a.shape} vs {b.shape}"); sys.exit(0)
c = np.corrcoef(a.ravel(), b.ravel())[0, 1]
r = np.corrcoef(a.ravel(), b[:, ::-1, :].ravel())[0, 1]
print(f"{sys.argv[3]}: correlation {c:.4f} (with the second's rows reversed: {r:.4f}), shape {a.shape}")
EOF
}
run_tilt_com() {   # run_tilt_com FILE.com: IMOD's tilt with the tilt section of a .com file on its standard input
  awk '/^\$tilt/{on=1; next} /^\$/{on=0} on' "$1" | tilt -StandardInput > "$1.log" 2>&1 || { tail -20 "$1.log"; exit 1; }
}

echo "== A. the same aligned ${size}²×${views} stack, thickness $thick =="
if [ ! -f a.mrc ]; then
  "$T" simulate --out . --name a --size "$size" --tilt-step "$step" --tilt-axis 0 --drift 0 --rotation-jitter 0 \
    --mag-jitter 0 --tilt-error 0 --seed 17 -q
fi
"$T" reconstruct a.mrc --angles a.rawtlt --thickness "$thick" --layout imod --device cpu --out a.tomalign.rec -q
tilt -InputProjections a.mrc -OutputFile a.imod.rec -TILTFILE a.rawtlt -THICKNESS "$thick" -RADIAL 0.35,0.0495 \
  -OFFSET 0,0.5 -SHIFT "0,$zshift" -MODE 2 > a.imod.log 2>&1
tilt -InputProjections a.mrc -OutputFile a.imod-plain.rec -TILTFILE a.rawtlt -THICKNESS "$thick" -RADIAL 0.35,0.035 \
  -MODE 2 > a.imod-plain.log 2>&1
corr a.imod.rec a.tomalign.rec "IMOD tilt (tilt.com's OFFSET/SHIFT/RADIAL) vs tomalign --layout imod"
corr a.imod-plain.rec a.tomalign.rec "IMOD tilt (plain entries) vs tomalign --layout imod"
# The simulated beads (dark in transmitted intensity) against their truth: in the Y-slice layout a bead at (x, y, z)
# belongs in section y + h/2, column x + w/2, row t − 1 − (z + t/2) (0-based; Tomalign's pixel centre w/2).
/usr/bin/python3 - "$thick" <<'EOF'
import sys, mrcfile, numpy as np
t = int(sys.argv[1])
beads = [list(map(float, l.split()[1:4])) for l in open("a.beads.txt") if not l.startswith("#")]
for name in ("a.tomalign.rec", "a.imod.rec", "a.imod-plain.rec"):
    v = -mrcfile.open(name, permissive=True).data.astype(np.float64)
    ns, nr, nc = v.shape
    errs = []
    for x, y, z in beads:
        e = np.array([y + ns / 2, t - 1 - (z + t / 2), x + nc / 2])   # (section, row, column)
        c = np.rint(e).astype(int); h = 4
        if (c - h < 0).any() or (c + h >= np.array(v.shape)).any(): continue
        box = v[c[0]-h:c[0]+h+1, c[1]-h:c[1]+h+1, c[2]-h:c[2]+h+1]
        w = np.clip(box - 0.3 * box.max(), 0, None)
        g = np.mgrid[-h:h+1, -h:h+1, -h:h+1]
        found = c + np.array([(w * g[i]).sum() / w.sum() for i in range(3)])
        errs.append(found - e)
    errs = np.array(errs)
    print(f"{name}: {len(errs)} beads, mean offset from the truth (section, row, column) {np.round(errs.mean(0), 3)}, RMS {np.sqrt((errs**2).sum(1).mean()):.3f} voxel")
EOF

echo "== A'. the same stack as mode-0 files (IMOD stamp: unsigned, flags 0; signed, flags 1) =="
/usr/bin/python3 - <<'EOF'
import mrcfile, numpy as np, struct
src = mrcfile.open("a.mrc", permissive=True)
d = src.data.astype(np.float64)
lo, hi = np.percentile(d, 0.1), np.percentile(d, 99.9)
u = np.clip(np.rint((d - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)
for name, data, flags in (("a.u8.mrc", u.view(np.int8), 0), ("a.s8.mrc", (u.astype(np.int16) - 128).astype(np.int8), 1)):
    with mrcfile.new(name, overwrite=True) as m:
        m.set_data(data)
        m.voxel_size = src.voxel_size
    with open(name, "r+b") as f:
        # IMOD's stamp (byte 152) and flags (156: bit 0 = bytes signed); DMIN/DMAX/DMEAN as IMOD reads the bytes.
        f.seek(152); f.write(struct.pack("<ii", 1146047817, flags))
        vals = u.astype(np.float64) if flags == 0 else u.astype(np.float64) - 128
        f.seek(76); f.write(struct.pack("<fff", vals.min(), vals.max(), vals.mean()))
print("wrote a.u8.mrc (unsigned) and a.s8.mrc (signed), mode 0")
EOF
for k in u8 s8; do
  "$T" reconstruct "a.$k.mrc" --angles a.rawtlt --thickness "$thick" --layout imod --device cpu --out "a.$k.tomalign.rec" -q
  tilt -InputProjections "a.$k.mrc" -OutputFile "a.$k.imod.rec" -TILTFILE a.rawtlt -THICKNESS "$thick" -RADIAL 0.35,0.0495 \
    -OFFSET 0,0.5 -SHIFT "0,$zshift" -MODE 2 > "a.$k.imod.log" 2>&1
  corr "a.$k.imod.rec" "a.$k.tomalign.rec" "mode 0 $k: IMOD tilt vs tomalign reconstruct"
done

echo "== B. tomalign run (--bin $bin, view 3 left out), then IMOD's tilt with NAME.tilt.com =="
if [ ! -f b.mrc ]; then
  "$T" simulate --out . --name b --size "$size" --tilt-step "$step" --seed 5 -q
fi
if [ ! -f run/b.rec ]; then
  "$T" run b.mrc --angles b.rawtlt --tilt-axis 85 --bead-diameter 10 --thickness "$thick" --bin "$bin" --exclude-views 3 --device cpu --out run -q
fi
( cd run && run_tilt_com b.tilt.com && clip rotx b_full_rec.mrc b.imod.xyz.rec > /dev/null )
corr run/b.imod.xyz.rec run/b.rec "IMOD tilt with b.tilt.com (clip rotx) vs tomalign run's b.rec"
if [ -f run/b.input.tilt.com ]; then
  cp b.mrc run/
  # As b.input.tilt.com says: transform with linear interpolation (b.input.xf is about IMOD's centre), then bin.
  ( cd run && newstack -linear -xform b.input.xf b.mrc b.input.full.ali > newstack.log 2>&1 \
      && if [ "$bin" -gt 1 ]; then newstack -bin "$bin" b.input.full.ali b.input.ali >> newstack.log 2>&1; else mv b.input.full.ali b.input.ali; fi \
      && run_tilt_com b.input.tilt.com \
      && clip rotx b.input_full_rec.mrc b.input.imod.xyz.rec > /dev/null )
  corr run/b.input.imod.xyz.rec run/b.rec "IMOD newstack + tilt with b.input.tilt.com (EXCLUDELIST) vs tomalign run's b.rec"
fi
echo "outputs in $out"
