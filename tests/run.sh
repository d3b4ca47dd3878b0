#!/usr/bin/env bash
# The full test suite: builds the `default` and `asan` presets and runs every CTest test in
# both, then builds the libFuzzer targets (clang), replays their corpora and fuzzes each for
# a bounded time. Exits non-zero on the first failure.
#
#   TF_FUZZ_SECONDS   seconds of fuzzing per target (default 30; 0 skips fuzzing)
#   TF_JOBS           parallel build/test jobs (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${TF_JOBS:-$(nproc)}
fuzz_seconds=${TF_FUZZ_SECONDS:-30}

step() { printf '\n==== %s ====\n' "$*"; }

for preset in default asan; do
	step "configure, build and test: $preset"
	cmake --preset "$preset"
	cmake --build --preset "$preset" -j "$jobs"
	ctest --preset "$preset" -j "$jobs"
done

step "fuzz targets: build and replay corpora"
cmake --preset fuzz
cmake --build --preset fuzz -j "$jobs"
ctest --preset fuzz -j "$jobs"

if [ "$fuzz_seconds" -gt 0 ]; then
	step "fuzz each target for ${fuzz_seconds}s"
	tests/fuzz/run-all.sh build/fuzz "$fuzz_seconds"
fi
step "all tests passed"
