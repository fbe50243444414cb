#!/usr/bin/env bash
# Issue 14's GPU check: the zoo's series aligned with --device cpu and --device cuda on the same machine, for the
# agreement of the two paths (the issue asks within 0.05 px). Run on a GPU machine (CUDA driver, no .NET SDK):
# Here:            ../shared/tools/gpu-pack            (builds .gpu/app.tar.xz, a self-contained src/Cli)
# On the machine:  run with carry [".gpu/app.tar.xz"] and the command  bash tools/gpu-parity-zoo.sh
# It writes $OUT/parity.tar.gz (each series' truth, .xf, .tlt and reports for both devices) and $OUT/parity.log;
# compare here with tools/compare-alignments.py. SIZE, SEED, STYLES override the defaults. About 3 min on an H200.
[ -n "${A:-}" ] || { tar -xJf .gpu/app.tar.xz -C .gpu; A=.gpu/app/tomalign; }
O=${OUT:?set OUT}; W=$(mktemp -d); SIZE=${SIZE:-512}; SEED=${SEED:-501}
STYLES=${STYLES:-"default weak-texture low-dose large-drift thick carbon-edge small-beads big-beads light-beads jitter bad-views acquisition-order markerless"}
for st in $STYLES; do
  d=$W/$st; mkdir -p $d
  timeout 60 $A simulate --style $st --size $SIZE --seed $SEED --out $d -q >/dev/null 2>&1 || { echo "$st: simulate failed" | tee -a $O/parity.log; continue; }
  r=$(grep -o '"BeadRadiusPixels": *[0-9.]*' $d/sim.truth.json | head -1 | sed 's/.*: *//')
  lm="--bead-diameter $(awk "BEGIN{print 2*$r}")"
  case $st in markerless*) lm="--markerless";; light-beads*) lm="$lm --light-beads";; esac
  for dev in cpu cuda; do
    timeout 120 $A align $d/sim.mrc --angles $d/sim.rawtlt --tilt-axis 85 $lm --device $dev --out $d/$dev -q > $d/$dev.log 2>&1
    echo "$st $dev exit $?" | tee -a $O/parity.log
    rm -f $d/$dev/*.mrc $d/$dev/*.ali $d/$dev/*.rec
  done
  rm -f $d/sim.mrc
  tar -C $W -czf $O/parity.tar.gz .   # after every series: a run cut short still brings back what it did
done
rm -rf "$W"
