#!/usr/bin/env bash
# Runs Tomalign's whole test suite and prints one closing line "N passed, N failed[, N skipped]", after a line of the
# same counts by category (Correctness, Smoke, Timing, Plan; see docs/TESTING.md).
# Needs only the .NET SDK; installs the Debian packages below when they are missing and this
# user may run apt-get.
set -uo pipefail
cd "$(dirname "$0")"

# Debian packages the tests use: python3-mrcfile (the independent MRC validator), python3-gemmi (an independent STAR reader) and Chromium with
# its driver (the report and web-page tests open pages in headless Chromium).
missing=()
/usr/bin/python3 -c "import mrcfile" >/dev/null 2>&1 || missing+=(python3-mrcfile)
/usr/bin/python3 -c "import gemmi" >/dev/null 2>&1 || missing+=(python3-gemmi)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "Installing ${missing[*]} (used by the tests)..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 \
      || echo "warning: could not install ${missing[*]}; the tests that need them will fail or be skipped"
  else
    echo "warning: ${missing[*]} missing (apt-get install ${missing[*]}); the tests that need them will fail or be skipped"
  fi
fi

# A single-node SLURM for the batch tests (trait Category=Slurm); they skip with its reason where it cannot start.
# Never a reason for this script to fail.
if [ -x tools/slurm-test-cluster.sh ]; then
  timeout 180 tools/slurm-test-cluster.sh || echo "warning: SLURM not started here; the SLURM tests will be skipped"
fi

results=$(mktemp -d)
dotnet test Gpu.sln -c Release --logger "trx;LogFileName=tests.trx" --results-directory "$results" "$@"
status=$?

trx=$(find "$results" -name '*.trx' | head -n 1)
if [ -z "$trx" ]; then
  echo "no test results were written (build failure?)"
  echo "0 passed, 1 failed"
  exit 1
fi
# The counts come from the TRX file that the test run wrote, not from dotnet test's own summary.
counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
total=$(get total); passed=$(get passed); failed=$(get failed); notexec=$(get notExecuted)
errors=$(get error)
failed=$(( ${failed:-0} + ${errors:-0} ))
skipped=$(( ${total:-0} - ${passed:-0} - failed ))

# Per category (xunit traits): tests marked Category=Smoke, Timing or Plan only check that something runs, that a time is
# positive, or a plan against numbers assembled by hand; every other test (marked Correctness or Accuracy, or unmarked) is
# counted as Correctness. The TRX file does not carry traits, so the marked names come from test discovery (no rerun).
categories=(Smoke Timing Plan)
declare -A listed
for c in "${categories[@]}"; do
  listed[$c]=$(dotnet test tests/Tomalign.Tests -c Release --no-build --list-tests --filter "Category=$c" 2>/dev/null \
    | sed -n 's/^    \(Tomalign\.[^(]*\).*$/\1/p' | sort -u)
done
# One line per test result: outcome and name (parameters dropped), from the TRX file.
outcomes=$(grep -o '<UnitTestResult [^>]*>' "$trx" | sed -n 's/.*testName="\([^"(]*\)[^"]*".*outcome="\([A-Za-z]*\)".*/\2 \1/p')
line="by category:"
declare -A seen
for c in Correctness "${categories[@]}"; do
  p=0; f=0; s=0
  while read -r outcome name; do
    [ -z "$name" ] && continue
    cat=Correctness
    for k in "${categories[@]}"; do
      if grep -qxF "$name" <<<"${listed[$k]}"; then cat=$k; break; fi
    done
    [ "$cat" = "$c" ] || continue
    case "$outcome" in Passed) p=$((p + 1));; Failed|Error|Timeout|Aborted) f=$((f + 1));; *) s=$((s + 1));; esac
  done <<<"$outcomes"
  line="$line $c $p passed, $f failed, $s skipped;"
done
echo "${line%;}"
rm -rf "$results"
if [ "${total:-0}" = "0" ]; then echo "no tests ran"; echo "0 passed, 1 failed"; exit 1; fi
if [ "$skipped" -gt 0 ]; then
  echo "${passed:-0} passed, ${failed} failed, ${skipped} skipped"
else
  echo "${passed:-0} passed, ${failed} failed"
fi
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
