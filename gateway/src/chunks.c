/*
 * Chunk serving with rate limits. See chunks.h.
 */
#include "chunks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tinyfleet/protocol/msg_chunk.h"

struct bucket {
	char id[TFP_DEVICE_ID_MAX + 1];
	double tokens;
	uint64_t refilled_ms;
	struct gw_chunk_wait *waiting;   /* the device's newest request in the queue, if any */
	/* The device's last answer while it may still wait in the MQTT link's queue. */
	uint8_t last_object[TFP_DIGEST_LEN];
	uint32_t last_offset, last_length;
	uint64_t last_place;             /* gw_mqtt_queue_place; 0: sent at once */
};

struct gw_chunk_wait {
	struct gw_chunk_wait *next;
	struct bucket *owner;            /* NULL when the bucket could not be made */
	char id[TFP_DEVICE_ID_MAX + 1];
	struct tfp_chunk_request req;
};

static void
refill(double *tokens, uint64_t *last, uint64_t now, uint64_t rate)
{
	/* One second of burst: a quiet device may catch up, but no more. */
	*tokens += (double)(now - *last) * (double)rate / 1000.0;
	if (*tokens > (double)rate)
		*tokens = (double)rate;
	*last = now;
}

static struct bucket *
bucket_of(struct gw_chunks *c, const char *id, uint64_t now)
{
	struct bucket *b = gw_devtab_get(&c->buckets, id);
	if (b == NULL && (b = calloc(1, sizeof(*b))) != NULL) {
		snprintf(b->id, sizeof(b->id), "%s", id);
		b->tokens = (double)c->device_rate;
		b->refilled_ms = now;
		if (gw_devtab_add(&c->buckets, b) != 0) {
			free(b);
			b = NULL;
		}
	}
	return b;
}

/* Whether `bytes` may go to device id now; takes the tokens if so. */
static int
take(struct gw_chunks *c, const char *id, size_t bytes)
{
	uint64_t now = uv_now(c->loop);
	struct bucket *b = NULL;

	if (c->rate > 0) {
		refill(&c->tokens, &c->refilled_ms, now, c->rate);
		if (c->tokens < (double)bytes && c->tokens < (double)c->rate)
			return 0;
	}
	if (c->device_rate > 0) {
		if ((b = bucket_of(c, id, now)) == NULL)
			return 0;
		refill(&b->tokens, &b->refilled_ms, now, c->device_rate);
		if (b->tokens < (double)bytes && b->tokens < (double)c->device_rate)
			return 0;
	}
	/* A chunk larger than a whole second's budget goes out when the bucket is full and
	 * drives it negative, so a slow rate still makes progress. */
	if (c->rate > 0)
		c->tokens -= (double)bytes;
	if (b != NULL)
		b->tokens -= (double)bytes;
	return 1;
}

/* Serves one request now: 1 sent, 0 refused (counted), -1 no tokens (caller queues). */
static int
serve(struct gw_chunks *c, const char *id, const struct tfp_chunk_request *q, int check_tokens)
{
	struct gw_txn t;
	const void *obj;
	size_t objlen, n, len;
	struct tfp_chunk_response p;
	struct bucket *b;
	uint8_t *buf;
	char topic[160];
	uint64_t entered;
	int rc;

	if ((rc = gw_store_begin_read(c->store, &t)) != 0) {
		c->stats.refused++;
		return 0;
	}
	if (gw_store_get_blob(&t, q->object_id, &obj, &objlen) != 0 || objlen > UINT32_MAX ||
	    q->offset > objlen) {
		gw_store_abort(&t);
		c->stats.refused++;
		log_info("chunks: %s asked for an unknown object or past its end (offset %u)", id,
		         (unsigned)q->offset);
		return 0;
	}
	n = objlen - q->offset < q->length ? objlen - q->offset : q->length;
	if (check_tokens && !take(c, id, n)) {
		gw_store_abort(&t);
		return -1;
	}
	memset(&p, 0, sizeof(p));
	memcpy(p.object_id, q->object_id, sizeof(p.object_id));
	p.offset = q->offset;
	p.total = (uint32_t)objlen;
	p.data = (const uint8_t *)obj + q->offset;
	p.len = n;
	buf = malloc(n + 128);
	rc = buf != NULL ? tfp_chunk_response_encode(&p, buf, n + 128, &len) : TFP_ERR_INTERNAL;
	gw_store_abort(&t);   /* the data was copied into buf */
	if (rc != 0) {
		free(buf);
		c->stats.refused++;
		log_warnx("chunks: cannot encode a response for %s: %s", id, tfp_strerror(rc));
		return 0;
	}
	snprintf(topic, sizeof(topic), "tf/%s/dev/%s/chunk/resp", c->site, id);
	/* QoS 1: Paho stalls on large QoS 0 messages under back-pressure (DESIGN.md). */
	entered = c->mqtt->entered;
	if (gw_mqtt_publish(c->mqtt, topic, buf, len, 1, 0, NULL) == 0) {
		c->stats.served++;
		c->stats.bytes += n;
		if ((b = bucket_of(c, id, uv_now(c->loop))) != NULL) {
			memcpy(b->last_object, q->object_id, sizeof(b->last_object));
			b->last_offset = q->offset;
			b->last_length = q->length;
			b->last_place = gw_mqtt_queue_place(c->mqtt, entered);
		}
	}
	free(buf);
	return 1;
}

static void
on_timer(uv_timer_t *h)
{
	struct gw_chunks *c = h->data;
	struct gw_chunk_wait **pp = &c->head, *w, *prev = NULL;
	size_t scanned = 0;

	/* Serve what the buckets allow, in order, skipping devices still out of tokens (a
	 * bounded scan, so one greedy device does not block the queue). */
	while ((w = *pp) != NULL && scanned++ < 256) {
		if (serve(c, w->id, &w->req, 1) < 0) {
			if (c->rate > 0 && c->tokens <= 0)
				break;   /* the global budget is spent: nobody goes now */
			prev = w;
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (c->tail == w)
			c->tail = prev;
		c->queued--;
		if (w->owner != NULL && w->owner->waiting == w)
			w->owner->waiting = NULL;
		free(w);
	}
	if (c->head == NULL)
		uv_timer_stop(&c->timer);
}

int
gw_chunks_init(uv_loop_t *loop, struct gw_chunks *c, struct gw_store *store,
               struct gw_mqtt *mqtt, const char *site, uint64_t rate, uint64_t device_rate)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->store = store;
	c->mqtt = mqtt;
	snprintf(c->site, sizeof(c->site), "%s", site);
	gw_devtab_init(&c->buckets, offsetof(struct bucket, id));
	gw_chunks_set_rates(c, rate, device_rate);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	return 0;
}

void
gw_chunks_set_rates(struct gw_chunks *c, uint64_t rate, uint64_t device_rate)
{
	c->rate = rate;
	c->device_rate = device_rate;
	c->tokens = (double)rate;
	c->refilled_ms = uv_now(c->loop);
}

void
gw_chunks_on_request(struct gw_chunks *c, const char *id, const uint8_t *msg, size_t len)
{
	struct tfp_chunk_request q;
	struct gw_chunk_wait *w;
	struct bucket *b;
	int rc;

	if ((rc = tfp_chunk_request_decode(msg, len, &q)) != 0) {
		c->stats.refused++;
		log_warnx("chunks: request from %s refused: %s", id, tfp_strerror(rc));
		return;
	}
	/* The agent re-asks for a chunk when its answer is late (its stall timer). While the
	 * answer to the same ask still waits in the MQTT link's queue (a busy rollout: many
	 * devices, large chunks), a second copy would only lengthen that queue and make more
	 * devices re-ask. */
	b = bucket_of(c, id, uv_now(c->loop));
	if (b != NULL && gw_mqtt_waiting(c->mqtt, b->last_place) && b->last_offset == q.offset &&
	    b->last_length == q.length &&
	    memcmp(b->last_object, q.object_id, sizeof(q.object_id)) == 0) {
		c->stats.merged++;
		return;
	}
	/* Keep arrival order: nothing overtakes requests already waiting. */
	if (c->head == NULL && serve(c, id, &q, 1) >= 0)
		return;
	/* Likewise while the same ask still waits here: the repeat adds nothing, so a slow
	 * queue does not grow with every timer tick of every device. Distinct asks (pipelined
	 * offsets) queue. */
	if (b != NULL && b->waiting != NULL && b->waiting->req.offset == q.offset &&
	    b->waiting->req.length == q.length &&
	    memcmp(b->waiting->req.object_id, q.object_id, sizeof(q.object_id)) == 0) {
		c->stats.merged++;
		return;
	}
	if (c->queued >= GW_CHUNKS_QUEUE_MAX || (w = calloc(1, sizeof(*w))) == NULL) {
		c->stats.dropped++;
		return;
	}
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->req = q;
	w->owner = b;
	if (b != NULL)
		b->waiting = w;
	if (c->tail != NULL)
		c->tail->next = w;
	else
		c->head = w;
	c->tail = w;
	c->queued++;
	c->stats.deferred++;
	if (!uv_is_active((uv_handle_t *)&c->timer))
		uv_timer_start(&c->timer, on_timer, 5, 5);
}

static void
free_bucket(void *arg, void *entry)
{
	(void)arg;
	free(entry);
}

void
gw_chunks_close(struct gw_chunks *c)
{
	while (c->head != NULL) {
		struct gw_chunk_wait *w = c->head;
		c->head = w->next;
		free(w);
	}
	c->tail = NULL;
	c->queued = 0;
	gw_devtab_each(&c->buckets, free_bucket, NULL);
	gw_devtab_free(&c->buckets);
	uv_close((uv_handle_t *)&c->timer, NULL);
}
