/*
 * The delta cache. See deltas.h for the contract.
 *
 * A build goes through three stages: waiting (a list node holding two digests), running
 * (its images copied out of LMDB on the loop and handed to a libuv worker), and done (the
 * after-work callback, on the loop, commits the result and calls ready()). The worker sees
 * only its own struct gw_delta_build; after gw_deltas_close a running build is marked
 * dropped and its after-work callback frees it without touching the (closed) store.
 */
#include "deltas.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "log.h"
#include "tinyfleet/delta/encode.h"

/* Stored "no delta" values of the deltas database (an object id is 32 bytes). */
enum { NONE_NO_GAIN = 1, NONE_FAILED = 2 };

struct gw_delta_build {
	uv_work_t work;
	struct gw_deltas *owner;
	struct gw_delta_build *next;
	int dropped;
	uint8_t base[TFP_DIGEST_LEN], target[TFP_DIGEST_LEN];
	/* Worker input (copies) and output. */
	uint8_t *old_img, *new_img;
	size_t old_len, new_len;
	uint8_t *patch;
	size_t patch_len;
	uint8_t patch_id[TFP_DIGEST_LEN];
	int rc;                    /* encoder result, TFP_ERR_* */
	int mode;
	double seconds;
};

static void
hex8(const uint8_t *p, char out[17])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 8; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[16] = '\0';
}

static void
build_free(struct gw_delta_build *b)
{
	if (b == NULL)
		return;
	free(b->old_img);
	free(b->new_img);
	free(b->patch);
	free(b);
}

static int
same_pair(const struct gw_delta_build *b, const uint8_t base[32], const uint8_t target[32])
{
	return memcmp(b->base, base, 32) == 0 && memcmp(b->target, target, 32) == 0;
}

static int
pending(const struct gw_deltas *d, const uint8_t base[32], const uint8_t target[32])
{
	for (const struct gw_delta_build *b = d->waiting; b != NULL; b = b->next)
		if (same_pair(b, base, target))
			return 1;
	for (const struct gw_delta_build *b = d->running; b != NULL; b = b->next)
		if (same_pair(b, base, target))
			return 1;
	return 0;
}

static int
unstored(const struct gw_deltas *d, const uint8_t base[32], const uint8_t target[32])
{
	for (unsigned i = 0; i < d->n_unstored; i++)
		if (memcmp(d->unstored[i], base, 32) == 0 &&
		    memcmp(d->unstored[i] + 32, target, 32) == 0)
			return 1;
	return 0;
}

static void
remember_unstored(struct gw_deltas *d, const uint8_t base[32], const uint8_t target[32])
{
	memcpy(d->unstored[d->unstored_next], base, 32);
	memcpy(d->unstored[d->unstored_next] + 32, target, 32);
	d->unstored_next = (d->unstored_next + 1) % GW_DELTAS_UNSTORED_MAX;
	if (d->n_unstored < GW_DELTAS_UNSTORED_MAX)
		d->n_unstored++;
}

/* ---- the worker: no loop state, only b ---- */

/* Tensor table of a model container; NULL (agnostic alignment only) when it is not one. */
static struct tfp_delta_tensor *
tensors(const uint8_t *img, size_t len, size_t *n)
{
	struct tfp_delta_tensor *t = NULL;
	if (tfp_delta_tensors_from_container(img, len, &t, n) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

static double
mono_seconds(void)
{
	return (double)uv_hrtime() / 1e9;
}

static void
build_work(uv_work_t *w)
{
	struct gw_delta_build *b = w->data;
	struct tfp_delta_enc_opts o = { TFP_DELTA_ENC_AUTO, 0, NULL, NULL };
	struct tfp_delta_tensor_map om, nm;
	struct tfp_delta_tensor *ot, *nt;
	size_t otn = 0, ntn = 0;
	double t0 = mono_seconds();

	ot = tensors(b->old_img, b->old_len, &otn);
	nt = tensors(b->new_img, b->new_len, &ntn);
	if (ot != NULL && nt != NULL) {
		om.t = ot, om.count = otn, nm.t = nt, nm.count = ntn;
		o.old_map = &om;
		o.new_map = &nm;
	}
	b->rc = tfp_delta_encode(b->old_img, b->old_len, b->new_img, b->new_len, &o, &b->patch,
	                         &b->patch_len, &b->mode);
	if (b->rc == 0 && mbedtls_sha256_ret(b->patch, b->patch_len, b->patch_id, 0) != 0)
		b->rc = TFP_ERR_INTERNAL;
	b->seconds = mono_seconds() - t0;
	free(ot);
	free(nt);
	/* The images are not needed on the loop: free them here, off the loop. */
	free(b->old_img);
	free(b->new_img);
	b->old_img = b->new_img = NULL;
}

/* ---- back on the loop ---- */

static void start_waiting(struct gw_deltas *d);

/* Commits the build's result: the patch blob and its index entry, or "no delta". */
static int
store_result(struct gw_deltas *d, struct gw_delta_build *b, int useful)
{
	struct gw_txn t;
	uint8_t none = b->rc != 0 ? NONE_FAILED : NONE_NO_GAIN;
	int rc;

	if ((rc = gw_store_begin(d->store, &t)) != 0)
		return rc;
	if (useful)
		rc = gw_store_put_blob(&t, b->patch_id, b->patch, b->patch_len);
	if (rc == 0)
		rc = useful ? gw_store_put_delta(&t, b->base, b->target, b->patch_id, 32)
		            : gw_store_put_delta(&t, b->base, b->target, &none, 1);
	if (rc == 0)
		rc = gw_store_commit(&t);
	gw_store_abort(&t);
	return rc;
}

static void
unlink_running(struct gw_deltas *d, struct gw_delta_build *b)
{
	for (struct gw_delta_build **pp = &d->running; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			d->n_running--;
			return;
		}
}

static void
build_done(uv_work_t *w, int status)
{
	struct gw_delta_build *b = w->data;
	struct gw_deltas *d = b->owner;
	uint8_t base[TFP_DIGEST_LEN], target[TFP_DIGEST_LEN];
	char from[17], to[17];
	int useful, rc;

	if (b->dropped || status == UV_ECANCELED) {
		if (!b->dropped) {
			unlink_running(d, b);
			d->stats.dropped++;
		}
		build_free(b);
		return;
	}
	unlink_running(d, b);
	hex8(b->base, from);
	hex8(b->target, to);
	useful = b->rc == 0 && b->patch_len < b->new_len;
	if (b->rc != 0) {
		d->stats.failed++;
		log_warnx("deltas: %s.. -> %s.. failed: %s; devices get the full image", from, to,
		          tfp_strerror(b->rc));
	} else {
		d->stats.build_seconds += b->seconds;
		d->stats.build_bytes += b->new_len;
		if (useful)
			d->stats.built++;
		else
			d->stats.no_gain++;
		log_info("deltas: %s.. -> %s.. %zu bytes for a %zu-byte image in %.3f s%s", from, to,
		         b->patch_len, b->new_len, b->seconds, useful ? "" : ": not smaller, unused");
	}
	if ((rc = store_result(d, b, useful)) != 0) {
		d->stats.store_errors++;
		remember_unstored(d, b->base, b->target);
		log_warnx("deltas: %s.. -> %s.. not stored: %s; devices get the full image", from,
		          to, strerror(-rc));
	}
	memcpy(base, b->base, sizeof(base));
	memcpy(target, b->target, sizeof(target));
	build_free(b);
	start_waiting(d);
	/* ready() may call choose() again, which may start builds: everything is consistent
	 * by now. */
	if (d->ready != NULL)
		d->ready(d->arg, base, target);
}

/* Copies the two images out of the store and hands the build to libuv. */
static int
submit(struct gw_deltas *d, struct gw_delta_build *b)
{
	struct gw_txn t;
	const void *old, *new;
	int rc;

	if ((rc = gw_store_begin_read(d->store, &t)) != 0)
		return rc;
	if ((rc = gw_store_get_blob(&t, b->base, &old, &b->old_len)) == 0 &&
	    (rc = gw_store_get_blob(&t, b->target, &new, &b->new_len)) == 0) {
		b->old_img = malloc(b->old_len ? b->old_len : 1);
		b->new_img = malloc(b->new_len ? b->new_len : 1);
		if (b->old_img == NULL || b->new_img == NULL) {
			rc = -ENOMEM;
		} else {
			memcpy(b->old_img, old, b->old_len);
			memcpy(b->new_img, new, b->new_len);
		}
	}
	gw_store_abort(&t);
	if (rc == 0) {
		b->work.data = b;
		rc = uv_queue_work(d->loop, &b->work, build_work, build_done);
	}
	if (rc != 0) {
		free(b->old_img);
		free(b->new_img);
		b->old_img = b->new_img = NULL;
		return rc;
	}
	b->next = d->running;
	d->running = b;
	d->n_running++;
	return 0;
}

static void
start_waiting(struct gw_deltas *d)
{
	while (!d->closed && d->n_running < GW_DELTAS_PARALLEL && d->waiting != NULL) {
		struct gw_delta_build *b = d->waiting;
		char from[17];
		int rc;

		d->waiting = b->next;
		if (d->waiting == NULL)
			d->waiting_tail = NULL;
		d->n_waiting--;
		b->next = NULL;
		if ((rc = submit(d, b)) != 0) {
			hex8(b->base, from);
			log_warnx("deltas: build from %s.. not started: %s", from, strerror(-rc));
			d->stats.failed++;
			remember_unstored(d, b->base, b->target);
			build_free(b);
		}
	}
}

/* Queues a build of base -> target: 0, or -EBUSY when GW_DELTAS_PENDING_MAX are pending. */
static int
enqueue(struct gw_deltas *d, const uint8_t base[32], const uint8_t target[32])
{
	struct gw_delta_build *b;

	if (d->n_waiting + d->n_running >= GW_DELTAS_PENDING_MAX) {
		d->stats.refused++;
		return -EBUSY;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ENOMEM;
	b->owner = d;
	memcpy(b->base, base, 32);
	memcpy(b->target, target, 32);
	if (d->waiting_tail != NULL)
		d->waiting_tail->next = b;
	else
		d->waiting = b;
	d->waiting_tail = b;
	d->n_waiting++;
	start_waiting(d);
	return 0;
}

int
gw_deltas_init(struct gw_deltas *d, uv_loop_t *loop, struct gw_store *s,
               gw_deltas_ready_fn ready, void *arg)
{
	memset(d, 0, sizeof(*d));
	d->loop = loop;
	d->store = s;
	d->ready = ready;
	d->arg = arg;
	return 0;
}

void
gw_deltas_close(struct gw_deltas *d)
{
	struct gw_delta_build *b, *next;

	if (d->closed)
		return;
	d->closed = 1;
	for (b = d->waiting; b != NULL; b = next) {
		next = b->next;
		d->stats.dropped++;
		build_free(b);
	}
	d->waiting = d->waiting_tail = NULL;
	d->n_waiting = 0;
	/* Whatever libuv has not started is cancelled (its callback sees UV_ECANCELED); what
	 * runs finishes in its worker. Either way the callback only frees: mark them all. */
	for (b = d->running; b != NULL; b = next) {
		next = b->next;
		b->dropped = 1;
		d->stats.dropped++;
		uv_cancel((uv_req_t *)&b->work);
	}
	d->running = NULL;
	d->n_running = 0;
}

static void
fill_full(struct gw_fetch *out, const uint8_t target[32], size_t len)
{
	memset(out, 0, sizeof(*out));
	out->fetch = TFP_FETCH_FULL;
	memcpy(out->object_id, target, TFP_DIGEST_LEN);
	out->object_size = (uint32_t)len;
	out->full_size = (uint32_t)len;
}

/* What the store says about base -> target: 1 a usable delta (*out filled), 0 nothing
 * recorded, -1 recorded as no delta (or a delta not smaller than the image). */
static int
lookup(struct gw_txn *t, const uint8_t base[32], const uint8_t target[32], size_t full,
       struct gw_fetch *out)
{
	const void *val, *patch;
	size_t len, plen;

	if (gw_store_get_delta(t, base, target, &val, &len) != 0)
		return 0;
	if (len != TFP_DIGEST_LEN || gw_store_get_blob(t, val, &patch, &plen) != 0 ||
	    plen >= full)
		return -1;
	memset(out, 0, sizeof(*out));
	out->fetch = TFP_FETCH_DELTA;
	memcpy(out->object_id, val, TFP_DIGEST_LEN);
	out->object_size = (uint32_t)plen;
	memcpy(out->base, base, TFP_DIGEST_LEN);
	out->full_size = (uint32_t)full;
	return 1;
}

int
gw_deltas_choose(struct gw_deltas *d, const uint8_t base[TFP_DIGEST_LEN],
                 const uint8_t target[TFP_DIGEST_LEN], struct gw_fetch *out)
{
	struct gw_txn t;
	const void *data;
	size_t len, blen;
	int rc, known, has_base;

	if ((rc = gw_store_begin_read(d->store, &t)) != 0)
		return rc;
	if ((rc = gw_store_get_blob(&t, target, &data, &len)) != 0) {
		gw_store_abort(&t);
		return rc;
	}
	fill_full(out, target, len);
	known = memcmp(base, target, TFP_DIGEST_LEN) == 0 ? -1 : lookup(&t, base, target, len, out);
	has_base = gw_store_get_blob(&t, base, &data, &blen) == 0;
	gw_store_abort(&t);
	if (known != 0 || !has_base || d->closed || unstored(d, base, target))
		return 0;
	if (pending(d, base, target))
		return -EAGAIN;
	return enqueue(d, base, target) == 0 ? -EAGAIN : 0;
}

struct base_count {
	uint8_t digest[TFP_DIGEST_LEN];
	size_t devices;
};

struct prebuild_ctx {
	const char *name;
	const uint8_t *target;
	struct base_count bases[64];
	size_t n;
};

static void
count_base(void *arg, void *entry)
{
	struct prebuild_ctx *p = arg;
	const struct gw_device *dev = entry;
	static const uint8_t zero[TFP_DIGEST_LEN];
	size_t i;

	if (strcmp(dev->model, p->name) != 0 || memcmp(dev->digest, zero, sizeof(zero)) == 0 ||
	    memcmp(dev->digest, p->target, TFP_DIGEST_LEN) == 0)
		return;
	for (i = 0; i < p->n; i++)
		if (memcmp(p->bases[i].digest, dev->digest, TFP_DIGEST_LEN) == 0)
			break;
	if (i == p->n) {
		if (p->n == sizeof(p->bases) / sizeof(p->bases[0]))
			return;   /* a fleet with this many versions installed: the first ones */
		memcpy(p->bases[i].digest, dev->digest, TFP_DIGEST_LEN);
		p->n++;
	}
	p->bases[i].devices++;
}

static int
by_devices_desc(const void *a, const void *b)
{
	const struct base_count *x = a, *y = b;
	return x->devices < y->devices ? 1 : x->devices > y->devices ? -1 : 0;
}

int
gw_deltas_prebuild(struct gw_deltas *d, const struct gw_registry *r, const char *name,
                   const uint8_t target[TFP_DIGEST_LEN])
{
	struct prebuild_ctx *p = calloc(1, sizeof(*p));
	struct gw_fetch f;
	int started = 0;

	if (p == NULL)
		return -ENOMEM;
	p->name = name;
	p->target = target;
	gw_devtab_each(&r->tab, count_base, p);
	qsort(p->bases, p->n, sizeof(p->bases[0]), by_devices_desc);
	for (size_t i = 0; i < p->n && i < GW_DELTAS_PREBUILD_MAX; i++) {
		size_t before = gw_deltas_pending(d);
		if (gw_deltas_choose(d, p->bases[i].digest, target, &f) == -EAGAIN &&
		    gw_deltas_pending(d) > before)
			started++;
	}
	free(p);
	return started;
}

size_t
gw_deltas_pending(const struct gw_deltas *d)
{
	return d->n_waiting + d->n_running;
}
