/*
 * Durable operator events. See outbox.h.
 *
 * Record: the kind, a zero byte, then the event as compact JSON without "site" (the site
 * is the daemon's, spliced in at publish time so the store need not know it).
 */
#include "outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

int
gw_outbox_record(struct gw_txn *t, uint64_t seq, const char *kind, const json_t *data,
                 uint64_t now_ms)
{
	char at[21], *text, *rec;
	size_t klen = strlen(kind), tlen;
	json_t *ev;
	int rc;

	if (!t->store->cfg.outbox)
		return 0;
	gw_format_time(now_ms, at);
	ev = json_pack("{s:s, s:I, s:s, s:O}", "event", kind, "seq", (json_int_t)seq, "at", at,
	               "data", (json_t *)data);
	if (ev == NULL)
		return -ENOMEM;
	text = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (text == NULL)
		return -ENOMEM;
	tlen = strlen(text);
	if ((rec = malloc(klen + 1 + tlen)) == NULL) {
		free(text);
		return -ENOMEM;
	}
	memcpy(rec, kind, klen + 1);
	memcpy(rec + klen + 1, text, tlen);
	rc = gw_store_outbox_put(t, seq, rec, klen + 1 + tlen);
	free(rec);
	free(text);
	return rc;
}

static int
was_acked(const struct gw_outbox *o, uint64_t seq)
{
	for (size_t i = 0; i < o->nacked; i++)
		if (o->acked[i] == seq)
			return 1;
	return 0;
}

/* Remembers seq for deletion at the next gw_outbox_flush; -ENOMEM leaves it to be sent
 * again after a reconnect. */
static int
mark_done(struct gw_outbox *o, uint64_t seq)
{
	if (o->nacked == o->acked_cap) {
		size_t cap = o->acked_cap ? 2 * o->acked_cap : 64;
		uint64_t *p = realloc(o->acked, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		o->acked = p;
		o->acked_cap = cap;
	}
	o->acked[o->nacked++] = seq;
	return 0;
}

/* Publishes one record; 0, or the error of the publish. */
static int
publish_record(struct gw_outbox *o, uint64_t seq, const uint8_t *rec, size_t len)
{
	const uint8_t *nul = memchr(rec, 0, len);
	char topic[128], *payload;
	size_t sflen = strlen(o->site_field), jlen;
	int token = 0, rc;

	if (nul == NULL || (size_t)(nul - rec) + 2 > len || nul[1] != '{') {
		/* Not ours (or torn by a bug): drop it rather than block every event after it. */
		log_warnx("outbox: event %llu is not a record; dropped", (unsigned long long)seq);
		return -EBADMSG;
	}
	snprintf(topic, sizeof(topic), "%s%s", o->topic_prefix, (const char *)rec);
	jlen = len - (size_t)(nul - rec) - 2;   /* the JSON after its '{' */
	if ((payload = malloc(sflen + jlen)) == NULL)
		return -ENOMEM;
	memcpy(payload, o->site_field, sflen);
	memcpy(payload + sflen, nul + 2, jlen);
	rc = gw_mqtt_publish_tracked(o->mqtt, topic, payload, sflen + jlen, 1, 0, &token);
	free(payload);
	if (rc != 0)
		return rc;
	o->inflight[o->ninflight].token = token;
	o->inflight[o->ninflight].seq = seq;
	o->ninflight++;
	o->published++;
	return 0;
}

/* Publishes outbox entries from o->next on, in seq order, while the window has room. */
static void
kick(struct gw_outbox *o)
{
	struct gw_txn t;
	const void *val;
	size_t len;
	uint64_t seq;
	int rc;

	if (!o->mqtt->connected || o->ninflight >= GW_OUTBOX_WINDOW ||
	    gw_store_begin_read(o->store, &t) != 0)
		return;
	while (o->ninflight < GW_OUTBOX_WINDOW &&
	       gw_store_outbox_next(&t, o->next, &seq, &val, &len) == 0) {
		if (!was_acked(o, seq) && (rc = publish_record(o, seq, val, len)) != 0) {
			if (rc != -EBADMSG)
				break;   /* link down or out of memory: the next connect or ack retries */
			mark_done(o, seq);
		}
		o->next = seq + 1;
	}
	gw_store_abort(&t);
}

static void
on_delivery(void *arg, int token, int ok)
{
	struct gw_outbox *o = arg;
	for (unsigned i = 0; i < o->ninflight; i++) {
		uint64_t seq = o->inflight[i].seq;
		if (o->inflight[i].token != token)
			continue;
		o->inflight[i] = o->inflight[--o->ninflight];
		if (!ok) {
			if (seq < o->next)
				o->next = seq;   /* publish it again */
			break;
		}
		if (mark_done(o, seq) == 0)
			o->delivered++;
		break;
	}
	kick(o);
}

void
gw_outbox_init(struct gw_outbox *o, struct gw_store *s, struct gw_mqtt *m, const char *site)
{
	memset(o, 0, sizeof(*o));
	o->store = s;
	o->mqtt = m;
	/* The site is validated by the configuration (a topic level of [A-Za-z0-9_-]). */
	snprintf(o->site_field, sizeof(o->site_field), "{\"site\":\"%s\",", site);
	snprintf(o->topic_prefix, sizeof(o->topic_prefix), "tf/%s/events/", site);
	gw_mqtt_on_delivery(m, on_delivery, o);
}

void
gw_outbox_emit(struct gw_outbox *o, uint64_t seq, const char *kind, json_t *data,
               uint64_t now_ms)
{
	struct gw_txn t;
	const void *val;
	size_t len;
	int rc;

	if (gw_store_begin_read(o->store, &t) != 0)
		goto out;
	rc = gw_store_outbox_get(&t, seq, &val, &len);
	gw_store_abort(&t);
	/* A caller that took the seq without recording the event: record it now (a crash
	 * before this commit loses this one event, as before the outbox). */
	if (rc == -ENOENT && gw_store_begin(o->store, &t) == 0) {
		if (gw_outbox_record(&t, seq, kind, data, now_ms) != 0 || gw_store_commit(&t) != 0)
			log_warnx("outbox: event %llu (%s) not recorded", (unsigned long long)seq,
			          kind);
		gw_store_abort(&t);
	}
out:
	json_decref(data);
	kick(o);
}

void
gw_outbox_on_link(struct gw_outbox *o, int connected)
{
	/* Paho settles what was in flight by itself; from our side, all of it is due again. */
	o->ninflight = 0;
	o->next = 0;
	if (connected)
		kick(o);
}

void
gw_outbox_flush(struct gw_outbox *o)
{
	struct gw_txn t;
	int rc = 0;

	if (o->nacked == 0 || gw_store_begin(o->store, &t) != 0)
		return;
	for (size_t i = 0; i < o->nacked && rc == 0; i++)
		if ((rc = gw_store_outbox_del(&t, o->acked[i])) == -ENOENT)
			rc = 0;
	if (rc == 0 && (rc = gw_store_commit(&t)) == 0)
		o->nacked = 0;
	else
		log_warnx("outbox: delivered events not deleted: %s", strerror(-rc));
	gw_store_abort(&t);
}

void
gw_outbox_tick(struct gw_outbox *o, uint64_t now_ms)
{
	if (o->nacked >= GW_OUTBOX_WINDOW || (o->nacked > 0 && now_ms - o->last_flush_ms >= 1000)) {
		gw_outbox_flush(o);
		o->last_flush_ms = now_ms;
	}
}

void
gw_outbox_close(struct gw_outbox *o)
{
	gw_outbox_flush(o);
	free(o->acked);
	o->acked = NULL;
	o->nacked = o->acked_cap = 0;
}
