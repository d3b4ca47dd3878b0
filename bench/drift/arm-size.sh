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
	"$CC" $FLAGS -fstack-usage -c "$f" -o "$out/$(basename "$f" .c).o"
done
arm-none-eabi-size -t "$out"/drift*.o | sed "s|$out/||"
# Static stack use per function (gcc -fstack-usage; all are "static": no VLA, no alloca).
# The deepest call chain is tfa_drift_on_label -> tfa_adwin_update -> its static helpers
# (inlined at -Os), so the largest frames below, summed along that chain, bound the stack.
echo "largest stack frames (bytes, function, kind):"
cat "$out"/drift*.su | awk -F'\t' '{ n = split($1, a, ":"); printf "  %4d %s %s\n", $2, a[n], $3 }' |
	sort -rn | head -8

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

# A whole image: the bundle driven by a small main, linked with newlib-nano and its libm,
# against an empty main with the same flags; the difference is what the detectors cost.
cat > "$out/main.c" <<'C'
#include "tinyfleet/agent/drift.h"
static struct tfa_drift d;
static const float m[2] = { 0, 0 }, v[2] = { 1, 1 }, e[2] = { 0, 0 };
static const float f[4] = { .5f, .5f, .5f, .5f };
int main(void);
int
main(void)
{
	struct tfa_drift_train_stats st = { 2, 2, m, v, e, f };
	struct tfa_drift_report r;
	float x[2] = { 1, 2 }, p[2] = { .7f, .3f };
	int i;

	if (tfa_drift_init(&d, 0, &st))
		return 1;
	for (i = 0; i < 1000; i++) {
		tfa_drift_on_prediction(&d, x, p, 2);
		tfa_drift_on_label(&d, 0.5f, i & 1);
	}
	return tfa_drift_report(&d, &r, 1) + (int)r.n_labels;
}
C
printf 'int main(void);\nint main(void) { return 0; }\n' > "$out/empty.c"
LINK="--specs=nano.specs --specs=nosys.specs -ffunction-sections -fdata-sections -Wl,--gc-sections"
# nosys.specs stubs warn that _read, _write, ... always fail; that is expected here.
# shellcheck disable=SC2086
"$CC" $FLAGS $LINK "$out/main.c" "$root"/device-agent/src/drift*.c -lm -o "$out/drift.elf" 2>/dev/null
# shellcheck disable=SC2086
"$CC" $FLAGS $LINK "$out/empty.c" -o "$out/empty.elf" 2>/dev/null
echo "linked images (newlib-nano, --gc-sections):"
arm-none-eabi-size "$out/drift.elf" "$out/empty.elf" | sed "s|$out/||"
