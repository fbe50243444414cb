#!/usr/bin/env bash
# Runs `tomalign align` over the simulation zoo (every style of `simulate --style`) and prints, per series,
# the verdict (when the report has one), the exit code, and the true errors measured by `tomalign check`.
# Usage: tools/zoo.sh [--size 512] [--seeds "101 102"] [--styles "weak-texture low-dose"] [--out DIR] [-- extra align options]
# Needs a Release build (dotnet build Gpu.sln -c Release). Not part of the tests (minutes on two cores).
set -uo pipefail
cd "$(dirname "$0")/.."
T=src/Cli/bin/Release/net10.0/tomalign
size=512; seeds="101"; out=$(mktemp -d); styles=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2;; --seeds) seeds=$2; shift 2;; --styles) styles=$2; shift 2;; --out) out=$2; shift 2;;
    --) shift; break;; *) echo "unknown option $1"; exit 2;;
  esac
done
[ -z "$styles" ] && styles=$($T simulate --help | grep -o 'Style of series[^.]*' | sed 's/.*hard): //; s/,//g')
printf '%-18s %5s %4s %-11s %9s %9s %8s %s\n' style seed exit verdict field_px tilts_px tilt_deg note
for style in $styles; do
  for seed in $seeds; do
    d="$out/$style-$seed"; rm -rf "$d"
    $T simulate --out "$d" --style "$style" --size "$size" --seed "$seed" -q || { echo "$style $seed: simulate failed"; continue; }
    landmarks="--bead-diameter $(python3 -c "import json;o=json.load(open('$d/sim.truth.json'))['Options'];print(round(2*o['BeadRadiusPixels']))")"
    case "$style" in markerless*) landmarks="--markerless";; light-beads*) landmarks="$landmarks --light-beads";; esac
    $T align "$d/sim.mrc" --angles "$d/sim.rawtlt" --tilt-axis 85 $landmarks --out "$d/a" -q "$@" > "$d/align.log" 2>&1
    rc=$?
    verdict=$(python3 -c "import json;d=json.load(open('$d/a/sim.align.json'));q=d.get('quality') or d.get('results',{}).get('quality');print(q['verdict'] if q else '-')" 2>/dev/null || echo -)
    if [ -f "$d/a/sim.xf" ] && [ -f "$d/a/sim.tlt" ]; then
      prepared=""; [ -f "$d/a/sim.prepared.rawtlt" ] && prepared="--angles $d/a/sim.prepared.rawtlt"
      $T check --truth "$d/sim.truth.json" --xf "$d/a/sim.xf" --tlt "$d/a/sim.tlt" $prepared --json "$d/check.json" -q > /dev/null 2>&1
      read -r f w t <<< "$(python3 -c "import json;c=json.load(open('$d/check.json'));print('%.3f %.3f %.2f'%(c['fieldError'],c['errorWithTilts'],c['tiltRms']))")"
    else f=-; w=-; t=-; fi
    note=$(tail -n 1 "$d/align.log" | cut -c1-70)
    printf '%-18s %5s %4s %-11s %9s %9s %8s %s\n' "$style" "$seed" "$rc" "$verdict" "$f" "$w" "$t" "$note"
  done
done
