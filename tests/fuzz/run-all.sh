#!/usr/bin/env bash
# Fuzzes every libFuzzer target of a `fuzz` preset build for a bounded time each.
#   usage: tests/fuzz/run-all.sh BUILD_DIR SECONDS
# A target fuzz_<x> starts from tests/fuzz/corpus/<x>/ (read-only: new inputs go to a
# scratch copy) and any crash, leak or sanitizer report fails the run; the crashing input is
# left in BUILD_DIR/fuzz-artifacts/ to be added to tests/fuzz/regressions/<x>/.
set -euo pipefail
build=${1:?usage: run-all.sh BUILD_DIR SECONDS}
seconds=${2:?usage: run-all.sh BUILD_DIR SECONDS}
src=$(cd "$(dirname "$0")" && pwd)

mapfile -t targets < <(find "$build" -type f -name 'fuzz_*' -perm -u+x | sort)
if [ "${#targets[@]}" -eq 0 ]; then
	echo "run-all: no fuzz targets under $build" >&2
	exit 1
fi

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
failed=0
printf '%-28s %10s %12s %8s\n' target runs exec/s result
for t in "${targets[@]}"; do
	name=$(basename "$t")
	short=${name#fuzz_}
	work="$build/fuzz-work/$short"
	rm -rf "$work"
	mkdir -p "$work"
	seeds=()
	[ -d "$src/corpus/$short" ] && seeds+=("$src/corpus/$short")
	[ -d "$src/regressions/$short" ] && seeds+=("$src/regressions/$short")
	log="$build/fuzz-$short.log"
	if "$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$artifacts/$short-" -print_final_stats=1 \
		"$work" "${seeds[@]}" >"$log" 2>&1; then
		result=ok
	else
		result=FAILED
		failed=1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	printf '%-28s %10s %12s %8s\n' "$name" "${runs:-?}" "${rate:-?}" "$result"
	if [ "$result" = FAILED ]; then
		tail -40 "$log"
	fi
done
exit "$failed"
