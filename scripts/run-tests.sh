#!/usr/bin/env bash
# Runs every test (unit + integration) on the normal build, then again on a
# build with AddressSanitizer + UndefinedBehaviorSanitizer, and prints one
# summary line at the end.  Usage: scripts/run-tests.sh BUILD_DIR ASAN_DIR
set -u
build=${1:-build}
asan=${2:-build-asan}
jobs=$(nproc 2>/dev/null || echo 2)
rc=0

echo "== tests (normal build) =="
ctest --test-dir "$build" --output-on-failure -j "$jobs" 2>&1 | tee "$build/ctest.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1

if [ "${VAULTCTL_SKIP_ASAN:-0}" != 1 ]; then
  echo "== tests (AddressSanitizer + UndefinedBehaviorSanitizer) =="
  cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DVAULTCTL_SANITIZE=ON >/dev/null &&
    cmake --build "$asan" -j "$jobs" >/dev/null || rc=1
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    VAULTCTL_TEST_QUICK=1 ctest --test-dir "$asan" --output-on-failure -j "$jobs" 2>&1 | tee "$asan/ctest.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
fi

# ---- extra suites (each appends its own block here; sets rc=1 on failure
# and adds its pass/fail counts to extra_passed / extra_failed) ----
extra_passed=0
extra_failed=0

# Valgrind memcheck over the unit tests of the normal build: each test
# binary is one pass/fail (memory errors or definite/indirect leaks fail).
if [ "${VAULTCTL_SKIP_VALGRIND:-0}" != 1 ]; then
  echo "== unit tests under valgrind memcheck =="
  if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind: not installed (make deps installs it)"
    extra_failed=$((extra_failed + 1)); rc=1
  else
    for t in $(ctest --test-dir "$build" -L unit -N 2>/dev/null |
               sed -nE 's/.*Test +#[0-9]+: unit\/([A-Za-z0-9_]+).*/\1/p'); do
      start=$(date +%s)
      if timeout 1200 valgrind -q --error-exitcode=99 --leak-check=full \
           --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
           "$build/$t" >"$build/valgrind-$t.log" 2>&1; then
        echo "valgrind: $t clean ($(( $(date +%s) - start )) s)"
        extra_passed=$((extra_passed + 1))
      else
        echo "valgrind: $t FAILED (see $build/valgrind-$t.log)"
        grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|.*definitely lost|.*indirectly lost)' \
          "$build/valgrind-$t.log" | head -10
        extra_failed=$((extra_failed + 1)); rc=1
      fi
    done
  fi
fi

# libFuzzer: replay the seed corpus, then each target briefly (clang).
if [ "${VAULTCTL_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzzing (corpus replay + ~20 s per target) =="
  scripts/fuzz.sh --ci 2>&1 | tee "$build/fuzz.log"
  fuzz_rc=${PIPESTATUS[0]}
  fp=$(grep -c '^fuzz result: .* ok:' "$build/fuzz.log")
  ff=$(grep -c '^fuzz result: .* FAILED' "$build/fuzz.log")
  if [ "$fuzz_rc" -ne 0 ] && [ "$ff" -eq 0 ]; then ff=1; fi   # did not get to run
  extra_passed=$((extra_passed + fp)); extra_failed=$((extra_failed + ff))
  [ "$fuzz_rc" -eq 0 ] || rc=1
fi
# ---- end of extra suites ----

count() { grep -E "tests passed, [0-9]+ tests failed out of" "$1" 2>/dev/null | tail -1 |
          sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1 \2/'; }
read -r f1 t1 <<<"$(count "$build/ctest.log")"
f1=${f1:-0}; t1=${t1:-0}
f2=0; t2=0
if [ "${VAULTCTL_SKIP_ASAN:-0}" != 1 ]; then
  read -r f2 t2 <<<"$(count "$asan/ctest.log")"; f2=${f2:-0}; t2=${t2:-0}
fi
passed=$(( (t1 - f1) + (t2 - f2) + extra_passed )); failed=$(( f1 + f2 + extra_failed ))
[ "$failed" -eq 0 ] || rc=1
echo
echo "summary: $passed passed, $failed failed"
exit $rc
