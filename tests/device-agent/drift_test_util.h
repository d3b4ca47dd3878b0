/* Deterministic streams for the drift detector tests (xorshift64*, no libc rand). */
#ifndef TFA_DRIFT_TEST_UTIL_H
#define TFA_DRIFT_TEST_UTIL_H

#include <stdint.h>

struct rng {
	uint64_t s;
};

static inline void
rng_seed(struct rng *r, uint64_t seed)
{
	r->s = seed * 0x9e3779b97f4a7c15ull + 1u;
}

static inline uint32_t
rng_u32(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (uint32_t)((r->s * 0x2545f4914f6cdd1dull) >> 32);
}

/* Uniform in [0, 1). */
static inline float
rng_uniform(struct rng *r)
{
	return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

static inline int
rng_bernoulli(struct rng *r, float p)
{
	return rng_uniform(r) < p;
}

#endif
