#!/bin/sh
# Compiles each drift module for a Cortex-M4F with Debian's arm-none-eabi-gcc (the flags
# of issue 4 plus the project's warnings), prints text/data/bss per object, and the byte
# size of each detector's state on the target (from sized symbols, read with nm -S).
# Usage: bench/drift/arm-size.sh   (from anywhere; writes into a temporary folder)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
CC=arm-none-eabi-gcc
FLAGS="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -std=c99 -Wall -Wextra
 -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wdouble-promotion
 -I$root/device-agent/include -I$root/protocol/include"
"$CC" --version | head -1
for f in "$root"/device-agent/src/drift*.c; do
	# shellcheck disable=SC2086
	"$CC" $FLAGS -c "$f" -o "$out/$(basename "$f" .c).o"
done
arm-none-eabi-size -t "$out"/drift*.o | sed "s|$out/||"

cat > "$out/sizes.c" <<'C'
#include "tinyfleet/agent/drift.h"
char size_tfa_ph[sizeof(struct tfa_ph)];
char size_tfa_adwin[sizeof(struct tfa_adwin)];
char size_tfa_ddm[sizeof(struct tfa_ddm)];
char size_tfa_hddm[sizeof(struct tfa_hddm)];
char size_tfa_drift_data[sizeof(struct tfa_drift_data)];
char size_tfa_conf[sizeof(struct tfa_conf)];
char size_tfa_drift[sizeof(struct tfa_drift)];
char size_tfa_drift_report[sizeof(struct tfa_drift_report)];
C
# shellcheck disable=SC2086
"$CC" $FLAGS -Wno-missing-prototypes -fno-common -c "$out/sizes.c" -o "$out/sizes.o"
echo "state bytes on the target (struct: bytes)"
arm-none-eabi-nm -S "$out/sizes.o" | while read -r _ size _ name; do
	printf '  %s: %d\n' "${name#size_}" "0x$size"
done
