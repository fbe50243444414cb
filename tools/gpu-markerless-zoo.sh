#!/usr/bin/env bash
# Markerless accuracy on held-out seeds, on a GPU machine (CUDA driver, no .NET SDK), plus kernel parity first.
# Here:            ../shared/tools/gpu-pack            (builds .gpu/app.tar.xz, a self-contained src/Cli)
# On the machine:  run with carry [".gpu/app.tar.xz"] and the command  bash tools/gpu-markerless-zoo.sh
# Writes verify.txt and zoo.txt (one line per series: exit code, verdict, `tomalign check` against the truth) to $OUT.
# About 2.5 minutes on an H200. Locally, with a build: A=src/Cli/bin/Release/net10.0/linux-x64/tomalign DEVICE=cpu.
[ -n "${A:-}" ] || { tar -xJf .gpu/app.tar.xz -C .gpu; A=.gpu/app/tomalign; }
DEVICE=${DEVICE:-cuda}; O=${OUT:?set OUT}; W=$(mktemp -d)
timeout 60 $A verify --device $DEVICE 2>&1 | tail -19 | tee $O/verify.txt
z() { st=$1; n=$2; s=$3; d=$W/$st-$n-$s; mkdir -p $d; timeout 60 $A simulate --style $st --size $n --seed $s --out $d -q >/dev/null 2>&1
 timeout 90 $A align $d/sim.mrc --angles $d/sim.rawtlt --tilt-axis 85 --markerless --device $DEVICE --out $d/a -q > $d/log 2>&1; rc=$?
 v=$(grep -o '"verdict": *"[a-z]*"' $d/a/sim.align.json | head -1); p=""; [ -f $d/a/sim.prepared.rawtlt ] && p="--angles $d/a/sim.prepared.rawtlt"
 c=$(timeout 60 $A check --truth $d/sim.truth.json --xf $d/a/sim.xf --tlt $d/a/sim.tlt $p -q 2>&1 | tr '\n' ' ' | cut -c1-300)
 echo "$st $n seed $s exit $rc $v | $c" | tee -a $O/zoo.txt; }
for s in 301 302 303 304; do z markerless 2048 $s; done; for s in 301 302; do z markerless-weak 2048 $s; done
for s in 301 302 303 304; do z markerless 1024 $s; done
rm -rf "$W"
