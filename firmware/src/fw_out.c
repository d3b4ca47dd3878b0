#include "fw_out.h"

#include <string.h>

unsigned fw_failures;

void
fw_str(const char *s)
{
	fw_write(s, strlen(s));
}

void
fw_u64(uint64_t v)
{
	char buf[21];
	size_t i = sizeof(buf);

	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	fw_write(buf + i, sizeof(buf) - i);
}

void
fw_i32(int32_t v)
{
	if (v < 0) {
		fw_write("-", 1);
		fw_u64((uint64_t)(-(int64_t)v));
	} else {
		fw_u64((uint64_t)v);
	}
}

void
fw_fix(float v, unsigned decimals)
{
	/* Single precision and 32-bit integers only: the FPU has no doubles, and the values
	 * printed (accuracies, mean losses) are small. */
	float x = v, scale = 1.0f;
	uint32_t q, whole, frac;
	char digits[8];

	if (x != x) {
		fw_str("nan");
		return;
	}
	if (x < 0) {
		fw_write("-", 1);
		x = -x;
	}
	if (decimals > 6)
		decimals = 6;
	for (unsigned i = 0; i < decimals; i++)
		scale *= 10.0f;
	if (!(x * scale < 4.0e9f)) {        /* also infinity */
		fw_str("inf");
		return;
	}
	q = (uint32_t)(x * scale + 0.5f);
	whole = q / (uint32_t)scale;
	frac = q % (uint32_t)scale;
	fw_u64(whole);
	if (decimals == 0)
		return;
	for (unsigned i = decimals; i > 0; i--) {
		digits[i - 1] = (char)('0' + frac % 10);
		frac /= 10;
	}
	fw_write(".", 1);
	fw_write(digits, decimals);
}

void
fw_kv_u(const char *name, uint64_t v)
{
	fw_str(name);
	fw_write("=", 1);
	fw_u64(v);
	fw_write(" ", 1);
}

int
fw_check(int cond, const char *name)
{
	fw_str(cond ? "ok " : "FAIL ");
	fw_str(name);
	fw_write("\n", 1);
	if (!cond)
		fw_failures++;
	return cond;
}
