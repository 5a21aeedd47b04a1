#!/usr/bin/env bash
# Builds and runs the libFuzzer targets (fuzz/fuzz_*.c) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   scripts/fuzz.sh [SECONDS]   run each target for SECONDS (default 60)
#   scripts/fuzz.sh --ci        replay the seed corpus, then ~20 s per target
#
# The seed corpus (fuzz/corpus/<target>/) is read, never written: new inputs
# go to build-fuzz/corpus/<target>/. A crash, leak or UB report stops the
# target, leaves the input under fuzz/crashes/ and makes the script exit 1;
# once the bug is fixed, copy that input into the seed corpus so CI replays
# it forever. Prints one "fuzz result:" line per target.
set -u
cd "$(dirname "$0")/.."

secs=60
ci=0
case "${1:-}" in
  --ci) ci=1; secs=${VAULTCTL_FUZZ_CI_SECONDS:-20} ;;
  '') ;;
  *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS|--ci]" >&2; exit 2 ;;
  *) secs=$1 ;;
esac

build=${FUZZ_BUILD:-build-fuzz}
cc=${FUZZ_CC:-clang}
jobs=$(nproc 2>/dev/null || echo 2)

if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz: $cc not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n){(void)d;(void)n;return 0;}' |
     "$cc" -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
  echo "fuzz: $cc cannot link libFuzzer (Debian: apt-get install libclang-rt-14-dev)" >&2
  exit 1
fi

echo "== fuzz: building in $build with $cc =="
CC=$cc cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVAULTCTL_FUZZ=ON >/dev/null &&
  cmake --build "$build" -j "$jobs" --target fuzz_request fuzz_config >/dev/null || {
  echo "fuzz: build failed" >&2
  exit 1
}

mkdir -p fuzz/crashes
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0

# run_target NAME CORPUS DICT MAX_LEN
run_target() {
  local name=$1 seeds=fuzz/corpus/$2 dict=fuzz/$3 max_len=$4
  local work=$build/corpus/$name log=$build/$name.log
  local bin=$build/$name execs status=ok
  local opts=(-dict="$dict" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048
              -artifact_prefix="fuzz/crashes/$name-" -print_final_stats=1)
  mkdir -p "$work"
  : >"$log"
  if [ "$ci" = 1 ]; then
    # Every seed (and every crash input kept there) once, with the checks on.
    if ! "$bin" "${opts[@]}" -runs=0 "$seeds" >>"$log" 2>&1; then
      status=FAILED
    fi
  fi
  if [ "$status" = ok ] &&
     ! "$bin" "${opts[@]}" -max_total_time="$secs" "$work" "$seeds" >>"$log" 2>&1; then
    status=FAILED
  fi
  execs=$(grep -h 'stat::number_of_executed_units' "$log" | awk '{s += $2} END {print s + 0}')
  if [ "$status" = ok ]; then
    echo "fuzz result: $name ok: $execs executions in ${secs} s (+ seed replay), corpus $(ls "$work" | wc -l) new inputs"
  else
    rc=1
    echo "fuzz result: $name FAILED after $execs executions; last lines of $log:"
    grep -E 'ERROR|SUMMARY|Test unit written|runtime error|==[0-9]+==' "$log" | tail -15
  fi
}

run_target fuzz_request request request.dict 70000
run_target fuzz_config config config.dict 16384
exit $rc
