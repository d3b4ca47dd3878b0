#include "state_batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

static void
on_check(uv_check_t *h)
{
	struct gw_state_batch *b = h->data;
	if (b->n > 0)
		gw_state_batch_flush(b, gw_wall_ms());
}

int
gw_state_batch_init(uv_loop_t *loop, struct gw_state_batch *b, struct gw_registry *reg,
                    void (*after)(void *arg), void *arg)
{
	int rc;

	memset(b, 0, sizeof(*b));
	b->registry = reg;
	b->after = after;
	b->arg = arg;
	if ((rc = uv_check_init(loop, &b->check)) != 0)
		return rc;
	b->check.data = b;
	if ((rc = uv_check_start(&b->check, on_check)) != 0)
		return rc;
	b->started = 1;
	return 0;
}

void
gw_state_batch_flush(struct gw_state_batch *b, uint64_t now_ms)
{
	size_t n = b->n, taken = 0;

	if (n == 0)
		return;
	gw_registry_on_states(b->registry, b->msgs, n, now_ms, b->rcs);
	for (size_t i = 0; i < n; i++) {
		taken += b->rcs[i] == 0;
		free((void *)b->msgs[i].id);
		free((void *)b->msgs[i].msg);
	}
	b->n = 0;
	b->flushes++;
	b->states += n;
	if (taken > 0 && b->after != NULL)
		b->after(b->arg);
}

int
gw_state_batch_add(struct gw_state_batch *b, const char *id, const uint8_t *msg, size_t len,
                   uint64_t now_ms)
{
	char *idc;
	uint8_t *copy;

	if (b->n == GW_STATE_BATCH_MAX)
		gw_state_batch_flush(b, now_ms);
	idc = strdup(id);
	copy = malloc(len ? len : 1);
	if (idc == NULL || copy == NULL || !b->started) {
		free(idc);
		free(copy);
		gw_state_batch_flush(b, now_ms);   /* keep the order */
		if (gw_registry_on_state(b->registry, id, msg, len, now_ms) == 0 &&
		    b->after != NULL)
			b->after(b->arg);
		return -ENOMEM;
	}
	memcpy(copy, msg, len);
	b->msgs[b->n].id = idc;
	b->msgs[b->n].msg = copy;
	b->msgs[b->n].len = len;
	b->n++;
	return 0;
}

void
gw_state_batch_close(struct gw_state_batch *b, uint64_t now_ms)
{
	gw_state_batch_flush(b, now_ms);
	if (b->started) {
		uv_check_stop(&b->check);
		uv_close((uv_handle_t *)&b->check, NULL);
		b->started = 0;
	}
}
