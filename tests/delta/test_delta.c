/*
 * Delta format: property tests (random and adversarial pairs rebuilt byte for byte with
 * random chunk sizes and block sizes, with simulated power loss and resume), malformed
 * patches with their specific error codes, and the tensor-aware mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tinyfleet/delta/apply.h"
#include "tinyfleet/delta/encode.h"
#include "tinyfleet/protocol/container.h"

/* xorshift64*: deterministic, seeded per test so failures reproduce. */
static uint64_t rng_state;

static void
rng_seed(uint64_t s)
{
	rng_state = s * 0x9E3779B97F4A7C15ull + 1;
}

static uint32_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static uint32_t
rnd_range(uint32_t lo, uint32_t hi)   /* inclusive */
{
	return lo + rnd() % (hi - lo + 1);
}

/* A simulated device: old slot, spare slot, with bound and order checks on every call. */
struct slot {
	const uint8_t *old_img;
	uint32_t old_len;
	uint8_t *spare;
	uint32_t spare_len;
	uint32_t next_write;   /* writes must be sequential */
	int fail_write_at;     /* >0: the n-th write fails */
	int writes;
};

static int
sim_read(void *user, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct slot *s = user;

	assert_true(len > 0);
	assert_true((uint64_t)off + len <= s->old_len);
	memcpy(buf, s->old_img + off, len);
	return 0;
}

static int
sim_write(void *user, uint32_t off, const uint8_t *buf, uint32_t len)
{
	struct slot *s = user;

	s->writes++;
	if (s->fail_write_at > 0 && s->writes == s->fail_write_at)
		return -5;
	assert_int_equal(off, s->next_write);
	assert_true((uint64_t)off + len <= s->spare_len);
	memcpy(s->spare + off, buf, len);
	s->next_write = off + len;
	return 0;
}

static uint8_t *
encode(const uint8_t *o, size_t ol, const uint8_t *n, size_t nl, int mode, uint32_t block,
       size_t *plen)
{
	struct tfp_delta_enc_opts opts = { mode, block, NULL, NULL };
	uint8_t *p = NULL;

	assert_int_equal(tfp_delta_encode(o, ol, n, nl, &opts, &p, plen, NULL), 0);
	assert_non_null(p);
	return p;
}

/* Feed the whole patch in random chunks; returns the final code (0 or error). */
static int
apply_chunks(const uint8_t *o, size_t ol, const uint8_t *patch, size_t plen, uint8_t *out,
             size_t out_cap, uint32_t max_chunk)
{
	struct tfp_delta_apply a;
	struct slot s = { o, (uint32_t)ol, out, (uint32_t)out_cap, 0, 0, 0 };
	size_t off = 0;
	int rc;

	assert_int_equal(tfp_delta_apply_init(&a, (uint32_t)ol, sim_read, sim_write, &s), 0);
	while (off < plen) {
		size_t n = rnd_range(1, max_chunk);

		if (n > plen - off)
			n = plen - off;
		rc = tfp_delta_apply_feed(&a, patch + off, n);
		if (rc < 0)
			return rc;
		off += n;
		if (rc == TFP_DELTA_DONE && off < plen)
			return tfp_delta_apply_feed(&a, patch + off, plen - off);
	}
	rc = tfp_delta_apply_finish(&a);
	if (rc == 0)
		assert_int_equal(tfp_delta_apply_written(&a), tfp_delta_apply_new_size(&a));
	return rc;
}

/*
 * Apply with power losses: after random feeds the device "reboots": the applier struct is
 * wiped, the spare slot beyond the last persisted checkpoint is trashed, and the apply
 * resumes from the persisted blob, feeding the patch from the offset the blob names.
 */
static void
apply_with_power_loss(const uint8_t *o, size_t ol, const uint8_t *patch, size_t plen,
                      const uint8_t *want, size_t wl, int losses)
{
	struct tfp_delta_apply a;
	uint8_t *out = malloc(wl + 1);
	uint8_t blob[TFP_DELTA_CKPT_LEN];
	struct slot s = { o, (uint32_t)ol, out, (uint32_t)wl, 0, 0, 0 };
	size_t off = 0;
	uint32_t persisted_blocks = 0, resumed_from = 0;
	int rc = 0;

	assert_non_null(out);
	memset(out, 0xEE, wl + 1);
	assert_int_equal(tfp_delta_apply_init(&a, (uint32_t)ol, sim_read, sim_write, &s), 0);
	assert_int_equal(tfp_delta_apply_checkpoint(&a, blob), 0);
	while (rc != TFP_DELTA_DONE) {
		size_t n = rnd_range(1, 3000);

		if (n > plen - off)
			n = plen - off;
		rc = tfp_delta_apply_feed(&a, patch + off, n);
		assert_true(rc >= 0);
		off += n;
		/* Persist the checkpoint whenever a block completed (what a device does). */
		if (tfp_delta_apply_blocks_done(&a) != persisted_blocks) {
			assert_int_equal(tfp_delta_apply_checkpoint(&a, blob), 0);
			persisted_blocks = tfp_delta_apply_blocks_done(&a);
		}
		if (rc != TFP_DELTA_DONE && losses > 0 && rnd() % 4 == 0) {
			uint32_t from;

			losses--;
			memset(&a, 0x5A, sizeof(a));
			assert_int_equal(tfp_delta_apply_resume(&a, blob, (uint32_t)ol, sim_read,
			                                        sim_write, &s), 0);
			from = tfp_delta_apply_written(&a);
			assert_true(from >= resumed_from);
			resumed_from = from;
			/* Everything after the checkpoint is garbage after the crash. */
			memset(out + from, 0xA5, wl - from);
			s.next_write = from;
			off = tfp_delta_apply_patch_offset(&a);
			assert_true(off <= plen);
			persisted_blocks = tfp_delta_apply_blocks_done(&a);
			if (off == plen)
				rc = tfp_delta_apply_feed(&a, NULL, 0);
		} else if (off == plen && rc != TFP_DELTA_DONE) {
			fail_msg("patch consumed but image incomplete");
		}
	}
	assert_int_equal(tfp_delta_apply_finish(&a), 0);
	assert_memory_equal(out, want, wl);
	assert_int_equal(out[wl], 0xEE);   /* never wrote past the target */
	free(out);
}

static void
check_pair(const uint8_t *o, size_t ol, const uint8_t *n, size_t nl)
{
	static const int modes[] = { TFP_DELTA_MODE_FULL, TFP_DELTA_MODE_AGNOSTIC,
	                             TFP_DELTA_ENC_AUTO };
	static const uint32_t blocks[] = { 0, 61, 1000, 4096 };

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		uint32_t block = blocks[rnd() % 4];
		size_t plen;
		uint8_t *p = encode(o, ol, n, nl, modes[m], block, &plen);
		uint8_t *out = malloc(nl + 1);

		assert_non_null(out);
		out[nl] = 0xEE;
		assert_int_equal(apply_chunks(o, ol, p, plen, out, nl, rnd_range(1, 600)), 0);
		assert_memory_equal(out, n, nl);
		assert_int_equal(out[nl], 0xEE);
		if (nl > 0)
			apply_with_power_loss(o, ol, p, plen, n, nl, 3);
		free(out);
		free(p);
	}
}

static uint8_t *
random_bytes(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
	return p;
}

/* int8-like weights: small values around zero. */
static uint8_t *
weights_int8(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(int8_t)((int)(rnd() % 61) - 30);
	return p;
}

static void
finetune(uint8_t *p, size_t n, unsigned percent)
{
	for (size_t i = 0; i < n; i++)
		if (rnd() % 100 < percent)
			p[i] = (uint8_t)(p[i] + (rnd() % 2 ? 1 : -1) * (int)(1 + rnd() % 2));
}

static void
test_adversarial_pairs(void **state)
{
	uint8_t *a, *b, *c;
	size_t n = 20000;

	(void)state;
	rng_seed(1);
	a = random_bytes(n);
	b = random_bytes(n);
	check_pair(NULL, 0, NULL, 0);                 /* empty -> empty */
	check_pair(NULL, 0, a, n);                    /* empty -> something */
	check_pair(a, n, NULL, 0);                    /* something -> empty */
	check_pair(a, n, a, n);                       /* identical */
	check_pair(a, n, b, n);                       /* all different */
	check_pair(a, n, a + 1, n - 1);               /* shifted / truncated head */
	check_pair(a, n, a, n / 3);                   /* truncated tail: new smaller */
	check_pair(a, n / 2, a, n);                   /* appended: new larger */
	check_pair(a, 1, b, 1);                       /* one byte each */
	c = malloc(2 * n);
	assert_non_null(c);
	memcpy(c, b, n);                              /* old prefixed with junk */
	memcpy(c + n, a, n);
	check_pair(a, n, c, 2 * n);
	check_pair(c, 2 * n, a, n);
	memset(c, 0, 2 * n);                          /* runs of zeros */
	check_pair(c, 2 * n, a, n);
	check_pair(a, n, c, 2 * n);
	free(a);
	free(b);
	free(c);
}

static void
test_random_pairs(void **state)
{
	(void)state;
	rng_seed(2);
	for (int iter = 0; iter < 25; iter++) {
		size_t ol = rnd_range(0, 30000), nl;
		uint8_t *o = rnd() % 2 ? weights_int8(ol) : random_bytes(ol);
		uint8_t *n;

		/* New = edits of old: fine-tune, cut, paste, insert, append. */
		nl = ol + rnd_range(0, 4000);
		n = malloc(nl ? nl : 1);
		assert_non_null(n);
		memcpy(n, o, ol);
		for (size_t i = ol; i < nl; i++)
			n[i] = (uint8_t)rnd();
		if (nl > 0)
			finetune(n, nl, rnd_range(0, 100));
		if (nl > 100 && rnd() % 2) {
			size_t at = rnd() % (nl - 50), len = rnd_range(1, 50);

			memmove(n + at + len, n + at, nl - at - len);   /* insertion, shifts rest */
		}
		if (nl > 0 && rnd() % 3 == 0)
			nl = rnd() % nl;                               /* truncation */
		check_pair(o, ol, n, nl);
		free(o);
		free(n);
	}
}

static void
test_finetune_compresses(void **state)
{
	size_t n = 65536, plen, flen;
	uint8_t *o, *nw, *p, *f;

	(void)state;
	rng_seed(3);
	o = weights_int8(n);
	nw = malloc(n);
	assert_non_null(nw);
	memcpy(nw, o, n);
	finetune(nw, n, 90);
	p = encode(o, n, nw, n, TFP_DELTA_MODE_AGNOSTIC, 0, &plen);
	f = encode(o, n, nw, n, TFP_DELTA_MODE_FULL, 0, &flen);
	/* 90 % of bytes changed by +-1/2: about 2.3 bits each, far below a literal. */
	assert_true(plen < n * 35 / 100);
	assert_true(plen < flen / 2);
	free(p);
	free(f);
	free(o);
	free(nw);
}

static void
test_auto_picks_smallest(void **state)
{
	size_t n = 30000, pa, pf, pg;
	uint8_t *a, *b, *x, *y, *z;
	int used = -2;
	struct tfp_delta_enc_opts opts = { TFP_DELTA_ENC_AUTO, 0, NULL, NULL };

	(void)state;
	rng_seed(4);
	a = random_bytes(n);
	b = malloc(n);
	assert_non_null(b);
	memset(b, 7, n);
	/* Unrelated pair whose new image compresses well: the full image wins. */
	assert_int_equal(tfp_delta_encode(a, n, b, n, &opts, &x, &pa, &used), 0);
	assert_int_equal(used, TFP_DELTA_MODE_FULL);
	y = encode(a, n, b, n, TFP_DELTA_MODE_FULL, 0, &pf);
	z = encode(a, n, b, n, TFP_DELTA_MODE_AGNOSTIC, 0, &pg);
	assert_true(pa == pf && pa <= pg);
	free(x);
	free(y);
	free(z);
	/* Identical images: a delta wins by far. */
	assert_int_equal(tfp_delta_encode(a, n, a, n, &opts, &x, &pa, &used), 0);
	assert_int_equal(used, TFP_DELTA_MODE_AGNOSTIC);
	assert_true(pa < 200);
	free(x);
	free(a);
	free(b);
}

/* ---- malformed patches ------------------------------------------------------------- */

struct fixture {
	uint8_t *old_img, *new_img, *patch;
	size_t ol, nl, plen;
};

static void
make_fixture(struct fixture *f)
{
	rng_seed(5);
	f->ol = 9000;
	f->nl = 10000;
	f->old_img = weights_int8(f->ol);
	f->new_img = malloc(f->nl);
	assert_non_null(f->new_img);
	memcpy(f->new_img, f->old_img, f->ol);
	for (size_t i = f->ol; i < f->nl; i++)
		f->new_img[i] = (uint8_t)rnd();
	finetune(f->new_img, f->nl, 50);
	f->patch = encode(f->old_img, f->ol, f->new_img, f->nl, TFP_DELTA_MODE_AGNOSTIC, 4096,
	                  &f->plen);
}

static void
free_fixture(struct fixture *f)
{
	free(f->old_img);
	free(f->new_img);
	free(f->patch);
}

static int
apply_copy(struct fixture *f, const uint8_t *patch, size_t plen, uint32_t old_len)
{
	uint8_t *out = malloc(f->nl);
	struct tfp_delta_apply a;
	struct slot s = { f->old_img, old_len, out, (uint32_t)f->nl, 0, 0, 0 };
	int rc;

	assert_non_null(out);
	assert_int_equal(tfp_delta_apply_init(&a, old_len, sim_read, sim_write, &s), 0);
	rc = tfp_delta_apply_feed(&a, patch, plen);
	if (rc >= 0)
		rc = tfp_delta_apply_finish(&a);
	if (rc == 0)
		assert_memory_equal(out, f->new_img, f->nl);
	free(out);
	return rc;
}

static void
put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
test_malformed_header(void **state)
{
	struct fixture f;
	uint8_t *p;

	(void)state;
	make_fixture(&f);
	p = malloc(f.plen + 1);
	assert_non_null(p);
	assert_int_equal(apply_copy(&f, f.patch, f.plen, (uint32_t)f.ol), 0);

	memcpy(p, f.patch, f.plen);
	p[0] = 'X';
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA_MAGIC);

	/* Versions 1 and 2 are known, 0 and 3 are not. */
	memcpy(p, f.patch, f.plen);
	p[4] = 0;
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA_VERSION);
	p[4] = TFP_DELTA_VERSION + 1;
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA_VERSION);

	/* Any header change without a matching CRC is refused. */
	memcpy(p, f.patch, f.plen);
	p[12] ^= 1;
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA);

	/* A consistent header whose block count contradicts the sizes. */
	memcpy(p, f.patch, f.plen);
	put32le(p + 20, 7);
	put32le(p + 28, tfp_delta_crc32(0, p, 28));
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA);

	/* Block size 0. */
	memcpy(p, f.patch, f.plen);
	put32le(p + 16, 0);
	put32le(p + 28, tfp_delta_crc32(0, p, 28));
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA);

	/* Made for another old image size. */
	assert_int_equal(apply_copy(&f, f.patch, f.plen, (uint32_t)f.ol - 1),
	                 TFP_ERR_DELTA_OLD_SIZE);

	/* Trailing byte. */
	memcpy(p, f.patch, f.plen);
	p[f.plen] = 0;
	assert_int_equal(apply_copy(&f, p, f.plen + 1, (uint32_t)f.ol), TFP_ERR_DELTA_TRAILING);

	/* Block header: reserved bytes, bad stride code, payload shorter than the coder start,
	 * old position beyond the old image. */
	memcpy(p, f.patch, f.plen);
	p[TFP_DELTA_HDR_LEN + 13] = 1;
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA);
	memcpy(p, f.patch, f.plen);
	p[TFP_DELTA_HDR_LEN + 12] = 3;
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA);
	/* The F32 element flag needs lane stride 4; unknown flag bits are refused. */
	p[TFP_DELTA_HDR_LEN + 12] = TFP_DELTA_BLK_F32;
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA);
	p[TFP_DELTA_HDR_LEN + 12] = TFP_DELTA_BLK_F32 | 1;
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA);
	p[TFP_DELTA_HDR_LEN + 12] = 0x08 | 2;
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA);
	memcpy(p, f.patch, f.plen);
	put32le(p + TFP_DELTA_HDR_LEN, 4);
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA);
	memcpy(p, f.patch, f.plen);
	put32le(p + TFP_DELTA_HDR_LEN + 8, (uint32_t)f.ol + 1);
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA_BOUNDS);

	/* A wrong block CRC. */
	memcpy(p, f.patch, f.plen);
	p[TFP_DELTA_HDR_LEN + 4] ^= 0x80;
	assert_int_equal(apply_copy(&f, p, f.plen, (uint32_t)f.ol), TFP_ERR_DELTA_CORRUPT);
	free(p);
	free_fixture(&f);
}

static void
test_truncated_at_every_byte(void **state)
{
	struct fixture f;
	struct tfp_delta_info info;

	(void)state;
	make_fixture(&f);
	for (size_t cut = 0; cut < f.plen; cut++) {
		assert_int_equal(apply_copy(&f, f.patch, cut, (uint32_t)f.ol),
		                 TFP_ERR_DELTA_TRUNCATED);
		assert_true(tfp_delta_info(f.patch, cut, &info) < 0);
	}
	assert_int_equal(tfp_delta_info(f.patch, f.plen, &info), 0);
	assert_int_equal(info.new_size, f.nl);
	assert_int_equal(info.old_size, f.ol);
	assert_int_equal(info.n_blocks, 3);
	free_fixture(&f);
}

/* Flips one bit in every `step`-th byte of the coded payload, one byte at a time: each
 * patch fails with a delta error code, or (the last flush bytes of a block may be unused by
 * the decoder) succeeds with identical output (apply_copy checks it). */
static void
corrupt_each_byte(struct fixture *f, size_t step)
{
	uint8_t *p = malloc(f->plen);

	assert_non_null(p);
	for (size_t i = TFP_DELTA_HDR_LEN + TFP_DELTA_BLK_HDR_LEN; i < f->plen; i += step) {
		int rc;

		memcpy(p, f->patch, f->plen);
		p[i] ^= (uint8_t)(1u << (i % 8));
		rc = apply_copy(f, p, f->plen, (uint32_t)f->ol);
		if (rc != 0)
			assert_true(rc <= TFP_ERR_DELTA && rc >= -99);
	}
	free(p);
}

/* Every single-byte corruption of the coded payload fails with a delta error code. */
static void
test_corrupt_payload_every_byte(void **state)
{
	struct fixture f;

	(void)state;
	make_fixture(&f);
	corrupt_each_byte(&f, 3);
	free_fixture(&f);
}

static void
test_io_errors_and_state(void **state)
{
	struct fixture f;
	struct tfp_delta_apply a;
	uint8_t *out;
	struct slot s;
	uint8_t blob[TFP_DELTA_CKPT_LEN];

	(void)state;
	make_fixture(&f);
	out = malloc(f.nl);
	assert_non_null(out);
	s = (struct slot){ f.old_img, (uint32_t)f.ol, out, (uint32_t)f.nl, 0, 3, 0 };
	assert_int_equal(tfp_delta_apply_init(&a, (uint32_t)f.ol, sim_read, sim_write, &s), 0);
	assert_int_equal(tfp_delta_apply_feed(&a, f.patch, f.plen), TFP_ERR_DELTA_IO);
	/* A failed applier stays failed. */
	assert_int_equal(tfp_delta_apply_feed(&a, f.patch, 1), TFP_ERR_DELTA_IO);
	assert_int_equal(tfp_delta_apply_finish(&a), TFP_ERR_DELTA_IO);

	assert_int_equal(tfp_delta_apply_init(NULL, 0, sim_read, sim_write, &s), TFP_ERR_ARG);
	assert_int_equal(tfp_delta_apply_init(&a, 0, NULL, sim_write, &s), TFP_ERR_ARG);
	assert_int_equal(tfp_delta_apply_feed(&a, NULL, 3), TFP_ERR_ARG);

	/* After completion, more input is trailing. */
	s = (struct slot){ f.old_img, (uint32_t)f.ol, out, (uint32_t)f.nl, 0, 0, 0 };
	assert_int_equal(tfp_delta_apply_init(&a, (uint32_t)f.ol, sim_read, sim_write, &s), 0);
	assert_int_equal(tfp_delta_apply_feed(&a, f.patch, f.plen), TFP_DELTA_DONE);
	assert_int_equal(tfp_delta_apply_feed(&a, NULL, 0), TFP_DELTA_DONE);
	assert_int_equal(tfp_delta_apply_feed(&a, f.patch, 1), TFP_ERR_DELTA_TRAILING);

	/* Checkpoint blobs: torn, foreign, or for another old size are refused. */
	s = (struct slot){ f.old_img, (uint32_t)f.ol, out, (uint32_t)f.nl, 0, 0, 0 };
	assert_int_equal(tfp_delta_apply_init(&a, (uint32_t)f.ol, sim_read, sim_write, &s), 0);
	assert_int_equal(tfp_delta_apply_feed(&a, f.patch, f.plen / 2), 0);
	assert_true(tfp_delta_apply_blocks_done(&a) >= 1);
	assert_int_equal(tfp_delta_apply_checkpoint(&a, blob), 0);
	assert_int_equal(tfp_delta_checkpoint_header_crc(blob),
	                 (uint32_t)f.patch[28] | (uint32_t)f.patch[29] << 8 |
	                 (uint32_t)f.patch[30] << 16 | (uint32_t)f.patch[31] << 24);
	assert_int_equal(tfp_delta_apply_resume(&a, blob, (uint32_t)f.ol - 1, sim_read,
	                                        sim_write, &s), TFP_ERR_DELTA_OLD_SIZE);
	for (size_t i = 0; i < sizeof(blob); i++) {
		blob[i] ^= 0x10;
		assert_int_equal(tfp_delta_apply_resume(&a, blob, (uint32_t)f.ol, sim_read,
		                                        sim_write, &s), TFP_ERR_DELTA_CHECKPOINT);
		blob[i] ^= 0x10;
	}
	assert_int_equal(tfp_delta_apply_resume(&a, blob, (uint32_t)f.ol, sim_read, sim_write,
	                                        &s), 0);
	free(out);
	free_fixture(&f);
}

/* ---- tensor-aware mode ------------------------------------------------------------- */

struct tdesc {
	const char *name;
	uint8_t dtype;        /* 1 int8, 2 float32 */
	uint32_t d0, d1;
};

/* Build a TFTT image; weights of tensor k come from gen(k, i, j). */
static uint8_t *
tftt_image(const struct tdesc *t, size_t nt, size_t *len, int variant)
{
	size_t off = 8 + 60 * nt, total = off;
	uint8_t *img;

	for (size_t k = 0; k < nt; k++)
		total += (size_t)t[k].d0 * t[k].d1 * (t[k].dtype == 2 ? 4 : 1);
	img = calloc(1, total);
	assert_non_null(img);
	memcpy(img, "TFTT", 4);
	put32le(img + 4, (uint32_t)nt);
	for (size_t k = 0; k < nt; k++) {
		uint8_t *e = img + 8 + 60 * k;
		size_t es = t[k].dtype == 2 ? 4 : 1, nb = (size_t)t[k].d0 * t[k].d1 * es;

		strncpy((char *)e, t[k].name, 32);
		e[32] = t[k].dtype;
		e[33] = 2;
		put32le(e + 36, t[k].d0);
		put32le(e + 40, t[k].d1);
		put32le(e + 52, (uint32_t)off);
		put32le(e + 56, (uint32_t)nb);
		for (uint32_t i = 0; i < t[k].d0; i++)
			for (uint32_t j = 0; j < t[k].d1; j++) {
				/* Deterministic "weight" of element (i, j) plus a fine-tune nudge. */
				uint32_t h = (uint32_t)(k * 7919u + i * 104729u + j * 1299709u);
				int v = (int)((h * 2654435761u) >> 27) - 16;

				if (variant && ((h >> 3) & 1))
					v += (h >> 5) & 1 ? 1 : -1;
				img[off + ((size_t)i * t[k].d1 + j) * es] = (uint8_t)(int8_t)v;
			}
		off += nb;
	}
	*len = total;
	return img;
}

static void
test_tensor_mode_widened_layer(void **state)
{
	static const struct tdesc olds[] = { { "conv1.w", 1, 16, 27 }, { "dense1.w", 1, 64, 100 },
	                                     { "dense2.w", 1, 10, 64 } };
	/* dense1 widened 64 -> 80 outputs, so dense2 gets 80 inputs. */
	static const struct tdesc news[] = { { "conv1.w", 1, 16, 27 }, { "dense1.w", 1, 80, 100 },
	                                     { "dense2.w", 1, 10, 80 } };
	struct tfp_delta_tensor *ot, *nt;
	size_t ol, nl, otn, ntn, pt, pa;
	uint8_t *o = tftt_image(olds, 3, &ol, 0), *n = tftt_image(news, 3, &nl, 1);
	uint8_t *p1, *p2, *out;
	struct tfp_delta_tensor_map om, nm;
	struct tfp_delta_enc_opts opts = { TFP_DELTA_MODE_TENSOR, 0, &om, &nm };
	int used;

	(void)state;
	rng_seed(6);
	assert_int_equal(tfp_delta_tensors_from_raw(o, ol, &ot, &otn), 0);
	assert_int_equal(tfp_delta_tensors_from_raw(n, nl, &nt, &ntn), 0);
	assert_int_equal(otn, 3);
	assert_int_equal(nt[2].dims[1], 80);
	om = (struct tfp_delta_tensor_map){ ot, otn };
	nm = (struct tfp_delta_tensor_map){ nt, ntn };
	assert_int_equal(tfp_delta_encode(o, ol, n, nl, &opts, &p1, &pt, &used), 0);
	assert_int_equal(used, TFP_DELTA_MODE_TENSOR);
	p2 = encode(o, ol, n, nl, TFP_DELTA_MODE_AGNOSTIC, 0, &pa);
	/* Row-wise alignment of the widened layers beats byte alignment. */
	assert_true(pt < pa);
	out = malloc(nl);
	assert_non_null(out);
	assert_int_equal(apply_chunks(o, ol, p1, pt, out, nl, 333), 0);
	assert_memory_equal(out, n, nl);
	apply_with_power_loss(o, ol, p1, pt, n, nl, 2);
	/* Auto uses the tensor tables when given. */
	free(p2);
	opts.mode = TFP_DELTA_ENC_AUTO;
	assert_int_equal(tfp_delta_encode(o, ol, n, nl, &opts, &p2, &pa, &used), 0);
	assert_int_equal(pa, pt);
	/* Broken tables are refused in tensor mode. */
	nt[1].nbytes++;
	opts.mode = TFP_DELTA_MODE_TENSOR;
	free(p2);
	p2 = NULL;
	assert_int_equal(tfp_delta_encode(o, ol, n, nl, &opts, &p2, &pa, &used),
	                 TFP_ERR_DELTA_TENSOR);
	{
		struct tfp_delta_tensor *tmp = NULL;
		size_t cnt = 0;

		o[4] = 0xFF;   /* tensor count larger than the image can hold */
		assert_int_equal(tfp_delta_tensors_from_raw(o, ol, &tmp, &cnt),
		                 TFP_ERR_DELTA_TENSOR);
		assert_null(tmp);
	}
	free(out);
	free(p1);
	free(ot);
	free(nt);
	free(o);
	free(n);
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	p = malloc((size_t)n);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

/*
 * Tensor mode over a real model container (the packer's output that the container tests
 * ship): a "fine-tune" nudges int8 weights, the container stays valid, and the tensor-aware
 * patch rebuilds it byte for byte, also across a power loss.
 */
static void
test_tensor_mode_container(void **state)
{
	struct tfp_delta_tensor *ot = NULL, *nt = NULL;
	struct tfp_delta_tensor_map om, nm;
	struct tfp_delta_enc_opts opts = { TFP_DELTA_ENC_AUTO, 64, &om, &nm };
	struct tfp_container c;
	size_t len, otn, ntn, plen;
	uint8_t *o = slurp(TF_SOURCE_DIR "/tests/fuzz/corpus/container/mlp.tfm", &len);
	uint8_t *n = malloc(len), *p = NULL, *out = malloc(len);
	int used = -1;

	(void)state;
	rng_seed(8);
	assert_non_null(n);
	assert_non_null(out);
	assert_int_equal(tfp_delta_tensors_from_container(o, len, &ot, &otn), 0);
	assert_true(otn > 0);
	memcpy(n, o, len);
	for (size_t i = 0; i < otn; i++) {
		assert_true(ot[i].elem_size == 1 || ot[i].elem_size == 4);
		assert_true((uint64_t)ot[i].offset + ot[i].nbytes <= len);
		if (ot[i].elem_size == 1)
			finetune(n + ot[i].offset, ot[i].nbytes, 70);
	}
	assert_int_equal(tfp_container_open(&c, n, len), 0);   /* still a valid model */
	assert_int_equal(tfp_delta_tensors_from_container(n, len, &nt, &ntn), 0);
	assert_int_equal(ntn, otn);
	om = (struct tfp_delta_tensor_map){ ot, otn };
	nm = (struct tfp_delta_tensor_map){ nt, ntn };
	assert_int_equal(tfp_delta_encode(o, len, n, len, &opts, &p, &plen, &used), 0);
	assert_true(used == TFP_DELTA_MODE_TENSOR || used == TFP_DELTA_MODE_AGNOSTIC);
	assert_true(plen < len);
	assert_int_equal(apply_chunks(o, len, p, plen, out, len, 17), 0);
	assert_memory_equal(out, n, len);
	apply_with_power_loss(o, len, p, plen, n, len, 3);
	free(p);
	opts.mode = TFP_DELTA_MODE_TENSOR;
	assert_int_equal(tfp_delta_encode(o, len, n, len, &opts, &p, &plen, &used), 0);
	assert_int_equal(used, TFP_DELTA_MODE_TENSOR);
	assert_int_equal(apply_chunks(o, len, p, plen, out, len, 5), 0);
	assert_memory_equal(out, n, len);
	/* Not a container: the reader's own code comes back. */
	free(nt);
	nt = NULL;
	n[0] ^= 0xFF;
	assert_int_equal(tfp_delta_tensors_from_container(n, len, &nt, &ntn),
	                 TFP_ERR_CONTAINER_MAGIC);
	assert_null(nt);
	free(p);
	free(ot);
	free(o);
	free(n);
	free(out);
}

/* ---- float32 element coding (format version 2) --------------------------------------- */

static uint32_t
f32_bits(float v)
{
	uint32_t u;

	memcpy(&u, &v, 4);
	return u;
}

static void
put_f32(uint8_t *p, float v)
{
	uint32_t u = f32_bits(v);

	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(u >> (8 * k));
}

/* Does any block of the patch use the F32 element coding? */
static int
uses_f32(const uint8_t *p, size_t plen)
{
	struct tfp_delta_info info;
	size_t off = TFP_DELTA_HDR_LEN;
	int any = 0;

	assert_int_equal(tfp_delta_info(p, plen, &info), 0);
	for (uint32_t b = 0; b < info.n_blocks; b++) {
		uint32_t cl = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
		              (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;

		any |= (p[off + 12] & TFP_DELTA_BLK_F32) != 0;
		off += TFP_DELTA_BLK_HDR_LEN + cl;
	}
	/* Version 2 exactly when a block needs it, so older appliers take the rest. */
	assert_int_equal(info.version, any ? 2 : 1);
	return any;
}

/*
 * A float32 fine-tune: weights move by amounts whose scale varies from row to row (as
 * gradients do), some are pruned to 0.0 or -0.0, some stay.
 * shift > 0 inserts that many bytes after element 700 (elements cut by operations), and the
 * images end with a few bytes that are not a whole element.
 */
static void
make_f32_pair(size_t n, size_t shift, uint8_t **o, size_t *ol, uint8_t **nw, size_t *nl)
{
	*ol = 4 * n + 3;
	*nl = 4 * n + shift + 3;
	*o = malloc(*ol);
	*nw = malloc(*nl);
	assert_non_null(*o);
	assert_non_null(*nw);
	float scale = 1e-7f;

	for (size_t i = 0; i < n; i++) {
		float w = (float)((double)rnd() / 4294967296.0 - 0.5) * 0.2f, v = w;
		size_t at = 4 * i + (shift > 0 && i >= 700 ? shift : 0);
		uint32_t r = rnd() % 100;

		if (i % 64 == 0)
			scale = (float)(1u << (rnd() % 12)) * 1e-9f;
		if (r < 10)
			v = 0.0f;
		else if (r < 15)
			v = -0.0f;
		else if (r < 85)
			v = w + (float)((double)rnd() / 4294967296.0 - 0.5) * 2000.0f * scale;
		put_f32(*o + 4 * i, w);
		put_f32(*nw + at, v);
	}
	for (size_t k = 0; k < shift; k++)
		(*nw)[4 * 700 + k] = (uint8_t)rnd();
	for (size_t k = 0; k < 3; k++)
		(*o)[4 * n + k] = (*nw)[4 * n + shift + k] = (uint8_t)(0x40 + k);
}

static void
test_f32_elements(void **state)
{
	static const size_t shifts[] = { 0, 8, 2, 5 };

	(void)state;
	rng_seed(11);
	assert_int_equal(f32_bits(-0.0f), 0x80000000u);
	for (size_t t = 0; t < sizeof(shifts) / sizeof(shifts[0]); t++) {
		uint8_t *o, *nw, *p, *out;
		size_t ol, nl, plen;

		make_f32_pair(4000, shifts[t], &o, &ol, &nw, &nl);
		p = encode(o, ol, nw, nl, TFP_DELTA_MODE_AGNOSTIC, 8192, &plen);
		/*
		 * Elements are 4-byte aligned in the new image (as the container and TFTT place
		 * float tensors): the element coding wins and the patch is well under half the
		 * image. After a shift by 2 or 5 bytes the floats straddle element boundaries and
		 * the byte planes take over from there; the patch must still apply.
		 */
		if (shifts[t] % 4 == 0) {
			assert_true(uses_f32(p, plen));
			assert_true(plen < nl * 45 / 100);
		}
		out = malloc(nl + 1);
		assert_non_null(out);
		out[nl] = 0xEE;
		assert_int_equal(apply_chunks(o, ol, p, plen, out, nl, rnd_range(1, 700)), 0);
		assert_memory_equal(out, nw, nl);
		assert_int_equal(out[nl], 0xEE);
		apply_with_power_loss(o, ol, p, plen, nw, nl, 3);
		free(out);
		free(p);
		/* And through every mode and random block sizes. */
		check_pair(o, ol, nw, nl);
		free(o);
		free(nw);
	}
}

/* Every single-byte corruption of an F32 patch's payload fails with a delta error code. */
static void
test_f32_corrupt_payload(void **state)
{
	struct fixture f;

	(void)state;
	rng_seed(12);
	make_f32_pair(1500, 2, &f.old_img, &f.ol, &f.new_img, &f.nl);
	f.patch = encode(f.old_img, f.ol, f.new_img, f.nl, TFP_DELTA_MODE_AGNOSTIC, 2048, &f.plen);
	assert_true(uses_f32(f.patch, f.plen));
	corrupt_each_byte(&f, 2);
	free_fixture(&f);
}

/*
 * tfp_delta_encode_stats: the same patch as tfp_delta_encode, and an accounting an operator
 * can trust: every new byte is counted once as add, F32 add, literal or copy; the header
 * part is exact; the estimated information content of the coded parts is within the
 * coder's flush bytes (5 per block) of the real payload size.
 */
static void
test_encode_stats(void **state)
{
	struct tfp_delta_enc_opts opts = { TFP_DELTA_MODE_AGNOSTIC, 4096, NULL, NULL };
	struct tfp_delta_enc_stats st;
	struct tfp_delta_info info;
	uint8_t *o, *nw, *p, *q;
	size_t ol, nl, pl, ql;
	double coded = 0;

	(void)state;
	rng_seed(14);
	make_f32_pair(3000, 2, &o, &ol, &nw, &nl);
	assert_int_equal(tfp_delta_encode_stats(o, ol, nw, nl, &opts, &p, &pl, NULL, &st), 0);
	q = encode(o, ol, nw, nl, TFP_DELTA_MODE_AGNOSTIC, 4096, &ql);
	assert_int_equal(pl, ql);
	assert_memory_equal(p, q, pl);
	assert_int_equal(tfp_delta_info(p, pl, &info), 0);
	assert_int_equal(st.add_bytes + st.add_f32_bytes + st.insert_bytes + st.copy_bytes, nl);
	assert_true(st.add_f32_bytes > 0 && st.add_bytes > 0);   /* aligned part, shifted part */
	assert_int_equal(st.blocks_stride1 + st.blocks_stride4 + st.blocks_f32, info.n_blocks);
	assert_true(st.blocks_f32 > 0);
	assert_true(st.bytes[TFP_DELTA_ST_HEADERS] ==
	            TFP_DELTA_HDR_LEN + (double)TFP_DELTA_BLK_HDR_LEN * info.n_blocks);
	for (int k = TFP_DELTA_ST_OPS; k < TFP_DELTA_ST_FLUSH; k++) {
		assert_true(st.bytes[k] >= 0);
		coded += st.bytes[k];
	}
	assert_true(coded <= (double)info.coded_bytes);
	assert_true(coded >= (double)info.coded_bytes - 6.0 * info.n_blocks);
	free(o);
	free(nw);
	free(p);
	free(q);
}

static uint8_t *
read_all(const char *name, size_t *len)
{
	char path[1024];
	FILE *fp;
	uint8_t *p;
	long n;

	snprintf(path, sizeof(path), "%s/tests/delta/v1/%s", TF_SOURCE_DIR, name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	p = malloc((size_t)n);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return p;
}

/*
 * Patches already built and cached by a gateway in format version 1 (this one was written
 * by the version 1 encoder; float32 data, so it has 4-lane blocks) still apply.
 */
static void
test_version1_patch_applies(void **state)
{
	size_t ol, nl, pl;
	uint8_t *o = read_all("old.bin", &ol), *nw = read_all("new.bin", &nl);
	uint8_t *p = read_all("patch-v1.tfdp", &pl), *out = malloc(nl);
	struct tfp_delta_info info;

	(void)state;
	rng_seed(13);
	assert_non_null(out);
	assert_int_equal(tfp_delta_info(p, pl, &info), 0);
	assert_int_equal(info.version, 1);
	assert_int_equal(apply_chunks(o, ol, p, pl, out, nl, 100), 0);
	assert_memory_equal(out, nw, nl);
	apply_with_power_loss(o, ol, p, pl, nw, nl, 2);
	free(o);
	free(nw);
	free(p);
	free(out);
}

static void
test_ram_budget(void **state)
{
	(void)state;
	/* The bound: 16 KB including the decoder's tables; the goal 8 KB. */
	print_message("applier working RAM: %zu bytes\n", (size_t)TFP_DELTA_APPLY_RAM);
	assert_true(TFP_DELTA_APPLY_RAM <= 8192);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adversarial_pairs),
		cmocka_unit_test(test_random_pairs),
		cmocka_unit_test(test_finetune_compresses),
		cmocka_unit_test(test_auto_picks_smallest),
		cmocka_unit_test(test_malformed_header),
		cmocka_unit_test(test_truncated_at_every_byte),
		cmocka_unit_test(test_corrupt_payload_every_byte),
		cmocka_unit_test(test_io_errors_and_state),
		cmocka_unit_test(test_tensor_mode_widened_layer),
		cmocka_unit_test(test_tensor_mode_container),
		cmocka_unit_test(test_f32_elements),
		cmocka_unit_test(test_f32_corrupt_payload),
		cmocka_unit_test(test_version1_patch_applies),
		cmocka_unit_test(test_encode_stats),
		cmocka_unit_test(test_ram_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
