/*
 * deltas: see deltas.h. This first version knows no patches yet and always names the full
 * image; the builder comes with the delta cache.
 */
#include "deltas.h"

#include <errno.h>
#include <string.h>

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
	(void)d;
}

int
gw_deltas_choose(struct gw_deltas *d, const uint8_t base[TFP_DIGEST_LEN],
                 const uint8_t target[TFP_DIGEST_LEN], struct gw_fetch *out)
{
	struct gw_txn t;
	const void *data;
	size_t len;
	int rc;

	(void)base;
	if ((rc = gw_store_begin_read(d->store, &t)) != 0)
		return rc;
	rc = gw_store_get_blob(&t, target, &data, &len);
	gw_store_abort(&t);
	if (rc != 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->fetch = TFP_FETCH_FULL;
	memcpy(out->object_id, target, TFP_DIGEST_LEN);
	out->object_size = (uint32_t)len;
	out->full_size = (uint32_t)len;
	return 0;
}
