/* Small helpers shared by the drift detector modules (internal). */
#ifndef TFA_DRIFT_UTIL_H
#define TFA_DRIFT_UTIL_H

/* True for a finite float. Written out (instead of isfinite) so that it works the same
 * under -ffast-math and needs nothing from libm: NaN fails both comparisons, and the
 * infinities fail the range test. */
static inline int
tfa__finite(float x)
{
	return x >= -3.402823466e38f && x <= 3.402823466e38f;
}

/* x clamped to [0, 1]; x must be finite. */
static inline float
tfa__unit(float x)
{
	return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
}

#endif
