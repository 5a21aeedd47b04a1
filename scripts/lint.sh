#!/usr/bin/env bash
# clang-tidy, cppcheck and a clang-format check over src/.
# Usage: scripts/lint.sh BUILD_DIR (needs its compile_commands.json)
set -u
build=${1:-build}
rc=0
srcs=$(ls src/*.c)

echo "== cppcheck =="
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
  --inline-suppr --suppress=missingIncludeSystem -I src $srcs || rc=1

echo "== clang-tidy =="
clang-tidy --quiet -p "$build" --warnings-as-errors='*' $srcs 2>/dev/null || rc=1

echo "== clang-format =="
if ! clang-format --dry-run --Werror src/*.c src/*.h 2>/dev/null; then
  echo "clang-format: files differ from .clang-format (run: make format)"
  rc=1
fi
[ $rc -eq 0 ] && echo "lint: clean" || echo "lint: problems found"
exit $rc
