#!/usr/bin/env bash
# Runs Tomalign's whole test suite and prints one closing line "N passed, N failed[, N skipped]".
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
rm -rf "$results"
if [ "${total:-0}" = "0" ]; then echo "no tests ran"; echo "0 passed, 1 failed"; exit 1; fi
if [ "$skipped" -gt 0 ]; then
  echo "${passed:-0} passed, ${failed} failed, ${skipped} skipped"
else
  echo "${passed:-0} passed, ${failed} failed"
fi
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
