# Sourced by the scripts that compare Tomalign with IMOD (bench/imod-side-by-side.sh, tools/imod-tilt-check.sh), from the
# repository root: T is the Release build's CLI; IMOD's programs (built by ../shared/tools/build_imod.sh under PEERS,
# default $HOME/imod-peer) are put on PATH. Exits 2 with the fix when either is missing.
T=$PWD/src/Cli/bin/Release/net10.0/tomalign
PEERS=${PEERS:-$HOME/imod-peer}
[ -x "$T" ] || { echo "no Release build at $T: run dotnet build Gpu.sln -c Release" >&2; exit 2; }
[ -f "$PEERS/imod-env.sh" ] || { echo "no IMOD build at $PEERS: run ../shared/tools/build_imod.sh (see its header)" >&2; exit 2; }
# shellcheck disable=SC1091
source "$PEERS/imod-env.sh"
command -v tilt >/dev/null || { echo "IMOD's tilt is not on PATH after sourcing $PEERS/imod-env.sh" >&2; exit 2; }
