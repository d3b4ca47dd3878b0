#!/usr/bin/env bash
# The Cortex-M4 firmware build and its checks (issue 10), end to end:
#   1. third-party sources for the target (fetch-sources.sh: apt-get source, private list)
#   2. build-time assets: two digits models (A, B), the delta A->B, B's signed manifest,
#      the trusted key, the TinyOL data stream (host tools compiled here with cc)
#   3. the host twin of the TinyOL image
#   4. the cross build (CMake, cmake/arm-none-eabi.cmake): fw_unit, fw_tinyol, fw_bench,
#      fw_agent for QEMU's mps2-an386
#   5. runs every image under QEMU (each exits 0 only if its checks pass), compares the
#      TinyOL run with the host twin, and prints the size/memory report, which fails the
#      build when a budget in firmware/budgets.txt is exceeded.
#
# Usage: firmware/build.sh [BUILD_DIR]     (default: build/firmware)
# Environment: TF_FW_SRC_CACHE (default build/firmware-src) keeps the fetched sources.
# Exit status: 0 all good; 1 a check, run, comparison or budget failed; 77 tools missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/firmware}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${TF_FW_SRC_CACHE:-$root/build/firmware-src}
py=/usr/bin/python3
jobs=${TF_FW_JOBS:-2}

for tool in arm-none-eabi-gcc qemu-system-arm cmake cc apt-get; do
	if ! command -v "$tool" > /dev/null; then
		echo "firmware: $tool not found (deploy/install-deps.sh installs it)" >&2
		exit 77
	fi
done

echo "== 1. third-party sources"
"$root/firmware/fetch-sources.sh" "$cache"

echo "== 2. assets"
assets=$out/assets
hostbin=$out/host
mkdir -p "$assets" "$hostbin"
hcflags=(-std=c99 -O2 -Wall -Wextra -Werror -ffp-contract=off
	-I"$root/protocol/include" -I"$root/protocol/src" -I"$root/protocol/delta/include"
	-I"$root/device-agent/include" -I"$root/device-agent/src" -I"$root/firmware/src")
cc "${hcflags[@]}" -D_POSIX_C_SOURCE=200809L -o "$hostbin/tinyfleet-delta" \
	"$root/tools/delta/tinyfleet_delta.c" "$root/protocol/delta/src/apply.c" \
	"$root/protocol/delta/src/encode.c" "$root"/protocol/src/*.c \
	-ldivsufsort -lmbedcrypto -lcbor
cc "${hcflags[@]}" -o "$hostbin/fw_mkassets" "$root/firmware/host/fw_mkassets.c" \
	"$root"/protocol/src/*.c -lmbedx509 -lmbedcrypto -lcbor
for seed in 0 1; do
	if [ ! -s "$assets/seed$seed/digits-mlp.tfm" ]; then
		"$py" "$root/tools/model/train_digits.py" --out "$assets/seed$seed" --seed "$seed" \
			> /dev/null
	fi
done
cp "$assets/seed0/digits-mlp.tfm" "$assets/model_a.tfm"
cp "$assets/seed1/digits-mlp.tfm" "$assets/model_b.tfm"
"$hostbin/tinyfleet-delta" diff "$assets/model_a.tfm" "$assets/model_b.tfm" \
	"$assets/patch_ab.tfd" > /dev/null
"$hostbin/fw_mkassets" "$root/tests/interop/keys/release-test.key.pem" \
	"$assets/model_b.tfm" "$assets"
"$py" "$root/firmware/tools/mkstream.py" "$assets/seed0/digits_holdout.npz" \
	"$assets/stream.bin" 2000
ls -l "$assets"/*.tfm "$assets"/*.tfd "$assets"/*.cose "$assets"/*.bin | awk '{print "   ", $5, $9}'

echo "== 3. host twin"
prof=()
while read -r name val _; do
	case $name in
	features_max) prof+=(-DTFA_FEATURES_MAX="$val") ;;
	head_in_max) prof+=(-DTFA_HEAD_IN_MAX="$val") ;;
	head_out_max) prof+=(-DTFA_HEAD_OUT_MAX="$val") ;;
	esac
done < "$root/firmware/budgets.txt"
cc "${hcflags[@]}" "${prof[@]}" -Wa,-I"$assets" -o "$hostbin/fw_tinyol_host" \
	"$root/firmware/host/fw_host_tinyol.c" "$root/firmware/src/fw_core.c" \
	"$root/firmware/src/fw_out.c" "$root/firmware/src/fw_assets.S" \
	"$root"/device-agent/src/*.c "$root"/protocol/src/*.c \
	"$root/protocol/delta/src/apply.c" -lmbedcrypto -lcbor -lm

echo "== 4. cross build"
cmake -S "$root/firmware" -B "$out/arm" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi.cmake" \
	-DCMAKE_BUILD_TYPE=MinSizeRel -DTF_FW_THIRD_PARTY="$cache" -DTF_FW_ASSETS="$assets" \
	> "$out/cmake-configure.log"
cmake --build "$out/arm" -j"$jobs" > "$out/cmake-build.log" 2>&1 ||
	{ tail -40 "$out/cmake-build.log"; exit 1; }
grep -A3 "Memory region" "$out/cmake-build.log" | head -4 || true

echo "== 5. QEMU runs"
qemu() { # qemu ELF LOG [extra args]: runs one image; its exit status is the firmware's
	local elf=$1 log=$2
	shift 2
	# -icount shift=0: one instruction = 1 ns of virtual time, so the SysTick-based
	# figures (and timeouts inside the images) do not depend on the host's speed.
	timeout 60 qemu-system-arm -M mps2-an386 -nographic -semihosting -icount shift=0 "$@" \
		-kernel "$elf" > "$log" 2>&1
}
fail=0
imgs=(fw_unit fw_agent fw_tinyol)
[ -f "$out/arm/fw_ota.elf" ] && imgs+=(fw_ota)
for img in "${imgs[@]}"; do
	if qemu "$out/arm/$img.elf" "$out/$img.out"; then
		echo "   $img: exit 0"
	else
		echo "   $img: FAILED (exit $?)"; cat "$out/$img.out"; fail=1
	fi
done
grep -c "^ok " "$out/fw_unit.out" | sed 's/^/    fw_unit checks passed: /'
# Twice: the counts must not depend on the host's speed.
for k in 1 2; do
	if ! qemu "$out/arm/fw_bench.elf" "$out/fw_bench.$k.out"; then
		echo "   fw_bench: FAILED"; cat "$out/fw_bench.$k.out"; fail=1
	fi
done
if ! cmp -s "$out/fw_bench.1.out" "$out/fw_bench.2.out"; then
	echo "   fw_bench: two runs under -icount differ"; diff "$out/fw_bench.1.out" "$out/fw_bench.2.out" || true
	fail=1
else
	echo "   fw_bench: exit 0, identical counts in two runs"
fi
"$hostbin/fw_tinyol_host" > "$out/fw_tinyol_host.out" || fail=1
"$py" "$root/firmware/compare_runs.py" "$out/fw_tinyol_host.out" "$out/fw_tinyol.out" || fail=1

echo "== 6. size and memory report"
if ! "$py" "$root/firmware/size_report.py" --budgets "$root/firmware/budgets.txt" \
	--map "$out/arm/fw_agent.map" --bench "$out/fw_bench.1.out" --objects \
	$([ -f "$out/fw_ota.out" ] && echo --bench "$out/fw_ota.out") \
	> "$out/size-report.txt"; then
	fail=1
fi
sed '/^per object/,/^$/d' "$out/size-report.txt"
echo "   (per-object table: $out/size-report.txt)"

if [ "$fail" -ne 0 ]; then
	echo "firmware: FAILED"
	exit 1
fi
echo "firmware: all images passed, within budgets"
