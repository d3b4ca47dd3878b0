#!/usr/bin/env bash
# Footprint of the agent core (bench/learn/RESULTS.md):
#  1. host: state bytes and time per sample for the digits model (64 features, 10 classes),
#     built with the budgets of that profile;
#  2. Cortex-M4: text/data/bss of the core linked into a bare-metal program with Debian's
#     gcc-arm-none-eabi and newlib-nano, -Os, hard float.
# Usage: bench/learn/footprint.sh [model.tfm]  (default: trains one into build/learn-bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/learn-bench
mkdir -p "$out"
model=${1:-}
if [ -z "$model" ]; then
	/usr/bin/python3 "$root/tools/model/train_digits.py" --out "$out" --seed 0 2>/dev/null
	model=$out/digits-mlp.tfm
fi
profile=(-DTFA_FEATURES_MAX=64 -DTFA_HEAD_IN_MAX=32 -DTFA_HEAD_OUT_MAX=10)
core=("$root"/device-agent/src/*.c "$root/protocol/src/container.c" "$root/protocol/src/error.c")
inc=(-I"$root/device-agent/include" -I"$root/device-agent/src" -I"$root/protocol/include")

echo "== host ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
cc -std=c99 -O2 "${profile[@]}" "${inc[@]}" -o "$out/learn_footprint" \
	"$root/bench/learn/footprint.c" "${core[@]}" -lm
"$out/learn_footprint" "$model" 20000

echo "== Cortex-M4 ($(arm-none-eabi-gcc --version | head -1))"
arena=$(/usr/bin/python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(); print(struct.unpack_from('<I',d,72)[0])" "$model")
mbytes=$(stat -c %s "$model")
cflags=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -std=c99
	-ffunction-sections -fdata-sections -fstack-usage "${profile[@]}" "${inc[@]}")
objs=()
rm -rf "$out/arm"
mkdir -p "$out/arm"
for src in "${core[@]}"; do
	o=$out/arm/$(basename "$(dirname "$(dirname "$src")")")_$(basename "${src%.c}").o
	arm-none-eabi-gcc "${cflags[@]}" -c "$src" -o "$o"
	objs+=("$o")
done
echo "-- core objects (before --gc-sections; everything compiled in)"
arm-none-eabi-size -t "${objs[@]}" | sed "s|$out/arm/||"
arm-none-eabi-gcc "${cflags[@]}" -DARENA_BYTES="$arena" -c "$root/bench/learn/arm_main.c" \
	-o "$out/arm/arm_main.o"
arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 \
	--specs=nano.specs --specs=nosys.specs -Wl,--gc-sections -o "$out/arm/agent.elf" \
	"$out/arm/arm_main.o" "${objs[@]}" -lm
echo "-- linked program (core + libc/libm parts it pulls in; static agent state in bss)"
arm-none-eabi-size "$out/arm/agent.elf"
echo "-- largest stack frames (-fstack-usage, bytes)"
cat "$out"/arm/*.su | sort -t$'\t' -k2 -n -r | head -5 | sed "s|$root/||"
echo "model container (flash, separate from the program): $mbytes bytes; arena $arena bytes"
