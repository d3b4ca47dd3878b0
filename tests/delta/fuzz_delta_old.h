/*
 * The fixed old image the applier fuzz target patches against, shared by the target and
 * the seed generator (tests/delta/gen_fuzz_seeds.c) so seeds stay valid patches.
 */
#ifndef TESTS_DELTA_FUZZ_DELTA_OLD_H
#define TESTS_DELTA_FUZZ_DELTA_OLD_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_DELTA_OLD_LEN 3000u
#define FUZZ_DELTA_OUT_MAX (1u << 20)   /* outputs beyond this stop the run (time bound) */

/* int8-like weights from a fixed linear congruential sequence. */
static void
fuzz_delta_old(uint8_t *p)
{
	uint32_t x = 12345;

	for (size_t i = 0; i < FUZZ_DELTA_OLD_LEN; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(int8_t)((int)((x >> 16) % 41) - 20);
	}
}

#endif
