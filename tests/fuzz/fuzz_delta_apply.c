/*
 * Fuzz target for the streaming delta applier: the input is a patch applied against a
 * fixed old image (tests/delta/fuzz_delta_old.h). Byte 0 of the input picks the chunk size
 * (1..256) the patch is fed in; byte 1 bit 0 asks for a simulated power loss halfway:
 * checkpoint, wipe, resume, and feed again from the offset the checkpoint names.
 *
 * Checked here beyond the sanitizers: the applier never reads outside the old image, never
 * writes outside [0, new size), writes sequentially, returns only its documented codes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../delta/fuzz_delta_old.h"
#include "tinyfleet/delta/apply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct io {
	uint8_t old_img[FUZZ_DELTA_OLD_LEN];
	uint32_t next, new_size;
	const struct tfp_delta_apply *a;
};

static struct io io;

static int
rd(void *user, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct io *s = user;

	if (len == 0 || off > FUZZ_DELTA_OLD_LEN || len > FUZZ_DELTA_OLD_LEN - off)
		abort();
	memcpy(buf, s->old_img + off, len);
	return 0;
}

static int
wr(void *user, uint32_t off, const uint8_t *buf, uint32_t len)
{
	struct io *s = user;
	uint32_t ns = tfp_delta_apply_new_size(s->a);

	(void)buf;
	if (len == 0 || off != s->next || off > ns || len > ns - off)
		abort();
	s->next = off + len;
	return s->next > FUZZ_DELTA_OUT_MAX ? -1 : 0;
}

static int
known(int rc)
{
	return rc == 0 || rc == TFP_DELTA_DONE || (rc <= TFP_ERR_DELTA && rc >= -99);
}

static int
feed_all(struct tfp_delta_apply *a, const uint8_t *p, size_t len, size_t chunk, size_t stop)
{
	int rc = 0;

	for (size_t off = 0; off < len && off < stop; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		rc = tfp_delta_apply_feed(a, p + off, n);
		if (!known(rc))
			abort();
		if (rc < 0)
			return rc;
	}
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfp_delta_apply a;
	uint8_t blob[TFP_DELTA_CKPT_LEN];
	size_t chunk, plen;
	const uint8_t *p;
	int rc;

	if (size < 2)
		return 0;
	chunk = (size_t)data[0] + 1;
	p = data + 2;
	plen = size - 2;
	fuzz_delta_old(io.old_img);
	io.next = 0;
	io.a = &a;
	if (tfp_delta_apply_init(&a, FUZZ_DELTA_OLD_LEN, rd, wr, &io) != 0)
		abort();
	if (data[1] & 1) {
		rc = feed_all(&a, p, plen, chunk, plen / 2);
		if (rc < 0)
			return 0;
		if (tfp_delta_apply_checkpoint(&a, blob) != 0)
			abort();
		memset(&a, 0, sizeof(a));
		if (tfp_delta_apply_resume(&a, blob, FUZZ_DELTA_OLD_LEN, rd, wr, &io) != 0)
			abort();   /* a blob we just made must be accepted */
		io.next = tfp_delta_apply_written(&a);
		if (tfp_delta_apply_patch_offset(&a) > plen)
			abort();
		p += tfp_delta_apply_patch_offset(&a);
		plen -= tfp_delta_apply_patch_offset(&a);
	}
	rc = feed_all(&a, p, plen, chunk, plen);
	if (rc >= 0) {
		rc = tfp_delta_apply_finish(&a);
		if (!known(rc))
			abort();
		if (rc == 0 && io.next != tfp_delta_apply_new_size(&a))
			abort();
	}
	return 0;
}
