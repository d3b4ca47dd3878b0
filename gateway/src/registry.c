/*
 * The device registry. See registry.h for the contract.
 */
#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "outbox.h"
#include "tinyfleet/protocol/cbor_io.h"
#include "tinyfleet/protocol/msg_state.h"

/* Store record keys (the registry's own CBOR map). */
enum { REC_STATE = 1, REC_LAST_SEEN = 2, REC_ONLINE = 3, REC_FIRST_SEEN = 4, REC_TAGS = 5 };

static uint32_t
fnv32(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	while (n-- > 0)
		h = (h ^ *p++) * 16777619u;
	return h;
}

/* Index of name in a string pool, adding it if there is room; -1 when the pool is full. */
static int
intern(char **pool, unsigned *n, unsigned max, const char *name)
{
	for (unsigned i = 0; i < *n; i++)
		if (strcmp(pool[i], name) == 0)
			return (int)i;
	if (*n >= max || (pool[*n] = strdup(name)) == NULL)
		return -1;
	return (int)(*n)++;
}

/* The pool's copy of tag, added if new; NULL when out of memory. */
static const char *
intern_tag(struct gw_registry *r, const char *tag)
{
	for (size_t i = 0; i < r->ntags; i++)
		if (strcmp(r->tag_pool[i], tag) == 0)
			return r->tag_pool[i];
	if (r->ntags == r->tags_cap) {
		size_t cap = r->tags_cap ? r->tags_cap * 2 : 16;
		char **p = realloc(r->tag_pool, cap * sizeof(*p));
		if (p == NULL)
			return NULL;
		r->tag_pool = p;
		r->tags_cap = cap;
	}
	if ((r->tag_pool[r->ntags] = strdup(tag)) == NULL)
		return NULL;
	return r->tag_pool[r->ntags++];
}

/* A device's tag array (NULL-terminated, pool strings) for names[0..n); *out NULL when n
 * is 0. 0 or -ENOMEM. */
static int
make_tags(struct gw_registry *r, const char *const *names, size_t n, const char ***out)
{
	const char **t;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((t = calloc(n + 1, sizeof(*t))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if ((t[i] = intern_tag(r, names[i])) == NULL) {
			free(t);
			return -ENOMEM;
		}
	*out = t;
	return 0;
}

/* Copies what matching and rollouts need from a decoded state into the compact entry. */
static void
apply_state(struct gw_registry *r, struct gw_device *d, const struct tfp_state *s)
{
	const struct tfp_slot *a = &s->slots[s->active_slot];
	int ci = intern(r->classes, &r->nclasses, GW_REGISTRY_MAX_CLASSES, s->device_class);

	d->class_idx = ci >= 0 ? (uint16_t)ci : UINT16_MAX;
	d->ram_bytes = s->ram_bytes;
	d->flash_bytes = s->flash_bytes;
	d->agent_abi = s->agent_abi;
	d->active_slot = s->active_slot;
	d->slot_state[0] = (uint8_t)s->slots[0].state;
	d->slot_state[1] = (uint8_t)s->slots[1].state;
	d->sensors = 0;
	for (unsigned i = 0; i < s->sensor_count; i++) {
		int si = intern(r->sensors, &r->nsensors, GW_REGISTRY_MAX_SENSORS, s->sensors[i]);
		if (si >= 0)
			d->sensors |= UINT64_C(1) << si;
		else
			log_warnx("registry: more than %d sensor kinds in the fleet; %s of %s ignored",
			          GW_REGISTRY_MAX_SENSORS, s->sensors[i], d->id);
	}
	if (a->state == TFP_SLOT_CONFIRMED || a->state == TFP_SLOT_PENDING) {
		memcpy(d->model, a->model, sizeof(d->model));
		memcpy(d->version, a->version, sizeof(d->version));
		memcpy(d->digest, a->digest, sizeof(d->digest));
		d->sequence = a->sequence;
	} else {
		d->model[0] = d->version[0] = '\0';
		memset(d->digest, 0, sizeof(d->digest));
		d->sequence = 0;
	}
}

static size_t
count_tags(const char *const *tags)
{
	size_t n = 0;
	while (tags != NULL && tags[n] != NULL)
		n++;
	return n;
}

static int
encode_record(const uint8_t *state, size_t len, uint64_t last_seen, int online,
              uint64_t first_seen, const char *const *tags, uint8_t **out, size_t *outlen)
{
	struct tfp_cbor_writer w;
	size_t ntags = count_tags(tags);
	size_t cap = len + 48 + ntags * (GW_REGISTRY_TAG_MAX + 2);
	uint8_t *buf = malloc(cap);

	if (buf == NULL)
		return -ENOMEM;
	tfp_cbor_writer_init(&w, buf, cap);
	tfp_cbor_put_map(&w, ntags > 0 ? 5 : 4);
	tfp_cbor_put_uint(&w, REC_STATE);
	tfp_cbor_put_bytes(&w, state, len);
	tfp_cbor_put_uint(&w, REC_LAST_SEEN);
	tfp_cbor_put_uint(&w, last_seen);
	tfp_cbor_put_uint(&w, REC_ONLINE);
	tfp_cbor_put_bool(&w, online != 0);
	tfp_cbor_put_uint(&w, REC_FIRST_SEEN);
	tfp_cbor_put_uint(&w, first_seen);
	if (ntags > 0) {
		tfp_cbor_put_uint(&w, REC_TAGS);
		tfp_cbor_put_array(&w, ntags);
		for (size_t i = 0; i < ntags; i++)
			tfp_cbor_put_textz(&w, tags[i]);
	}
	if (tfp_cbor_writer_finish(&w, outlen) != 0) {
		free(buf);
		return -EOVERFLOW;
	}
	*out = buf;
	return 0;
}

struct record {
	const uint8_t *state;
	size_t state_len;
	uint64_t last_seen, first_seen;
	bool online;
	size_t ntags;
	char tags[GW_REGISTRY_MAX_TAGS][GW_REGISTRY_TAG_MAX + 1];
};

static int
read_tags(struct tfp_cbor_reader *rd, struct record *rec)
{
	size_t n;
	if (tfp_cbor_read_array(rd, &n) != 0 || n > GW_REGISTRY_MAX_TAGS)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (tfp_cbor_read_text_into(rd, rec->tags[i], sizeof(rec->tags[i])) != 0)
			return -1;
	rec->ntags = n;
	return 0;
}

static int
decode_record(const void *val, size_t len, struct record *rec)
{
	struct tfp_cbor_reader rd;
	size_t n;
	uint64_t key;

	memset(rec, 0, sizeof(*rec));
	tfp_cbor_reader_init(&rd, val, len);
	if (tfp_cbor_read_map(&rd, &n) != 0)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		int rc = tfp_cbor_read_uint(&rd, &key);
		if (rc == 0) {
			switch (key) {
			case REC_STATE: rc = tfp_cbor_read_bytes(&rd, &rec->state, &rec->state_len); break;
			case REC_LAST_SEEN: rc = tfp_cbor_read_uint(&rd, &rec->last_seen); break;
			case REC_ONLINE: rc = tfp_cbor_read_bool(&rd, &rec->online); break;
			case REC_FIRST_SEEN: rc = tfp_cbor_read_uint(&rd, &rec->first_seen); break;
			case REC_TAGS: rc = read_tags(&rd, rec); break;
			default: rc = tfp_cbor_skip(&rd); break;   /* a newer gateway's field */
			}
		}
		if (rc != 0)
			return -EBADMSG;
	}
	return rec->state != NULL ? 0 : -EBADMSG;
}

struct load_ctx {
	struct gw_registry *r;
	int err;
};

static int
load_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct load_ctx *c = arg;
	struct gw_device *d;
	struct record rec;
	struct tfp_state s;

	if (klen == 0 || klen > TFP_DEVICE_ID_MAX || decode_record(val, vlen, &rec) != 0 ||
	    tfp_state_decode(rec.state, rec.state_len, &s) != 0) {
		log_warnx("registry: unreadable record for %.*s skipped", (int)klen,
		          (const char *)key);
		return 0;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		c->err = -ENOMEM;
		return 1;
	}
	memcpy(d->id, key, klen);
	if (rec.ntags > 0) {
		const char *names[GW_REGISTRY_MAX_TAGS];
		for (size_t i = 0; i < rec.ntags; i++)
			names[i] = rec.tags[i];
		if (make_tags(c->r, names, rec.ntags, &d->tags) != 0) {
			free(d);
			c->err = -ENOMEM;
			return 1;
		}
	}
	apply_state(c->r, d, &s);
	d->state_hash = fnv32(rec.state, rec.state_len);
	d->last_seen_ms = rec.last_seen;
	/* Nobody is online until they speak again: the gateway may have been down a while. */
	d->online = 0;
	if (gw_devtab_add(&c->r->tab, d) != 0) {
		free(d->tags);
		free(d);
		c->err = -ENOMEM;
		return 1;
	}
	return 0;
}

int
gw_registry_open(struct gw_registry *r, struct gw_store *s, gw_registry_event_fn emit,
                 void *arg)
{
	struct load_ctx c = { r, 0 };
	struct gw_txn t;
	int rc;

	memset(r, 0, sizeof(*r));
	r->store = s;
	r->emit = emit;
	r->arg = arg;
	gw_devtab_init(&r->tab, offsetof(struct gw_device, id));
	if ((rc = gw_store_begin_read(s, &t)) != 0)
		return rc;
	rc = gw_store_each(&t, GW_DB_DEVICES, load_one, &c);
	gw_store_abort(&t);
	if (c.err != 0 || rc < 0) {
		gw_registry_close(r);
		return c.err != 0 ? c.err : rc;
	}
	/* Loading read every device record through the map: those pages need not stay
	 * resident in the daemon (the store keeps them a read away). */
	gw_store_release_pages(s);
	log_info("registry: %zu device(s) loaded", r->tab.count);
	return 0;
}

static void
free_entry(void *arg, void *entry)
{
	struct gw_device *d = entry;
	(void)arg;
	free(d->tags);
	free(d);
}

void
gw_registry_close(struct gw_registry *r)
{
	gw_devtab_each(&r->tab, free_entry, NULL);
	gw_devtab_free(&r->tab);
	for (unsigned i = 0; i < r->nclasses; i++)
		free(r->classes[i]);
	for (unsigned i = 0; i < r->nsensors; i++)
		free(r->sensors[i]);
	r->nclasses = r->nsensors = 0;
	for (size_t i = 0; i < r->ntags; i++)
		free(r->tag_pool[i]);
	free(r->tag_pool);
	r->tag_pool = NULL;
	r->ntags = r->tags_cap = 0;
}

/* Appends an audit entry in t; takes ownership of details (may be NULL). */
static int
audit(struct gw_txn *t, uint64_t now_ms, const char *id, const char *action, json_t *details)
{
	char at[21];
	json_t *e;
	char *text;
	int rc;

	gw_format_time(now_ms, at);
	e = json_pack("{s:s, s:s, s:s}", "at", at, "by", id, "action", action);
	if (e == NULL) {
		json_decref(details);
		return -ENOMEM;
	}
	if (details != NULL)
		json_object_set_new(e, "details", details);
	text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(e);
	if (text == NULL)
		return -ENOMEM;
	rc = gw_store_audit_append(t, text, strlen(text), NULL);
	free(text);
	return rc;
}

static json_t *
online_event(const struct gw_registry *r, const struct gw_device *d, const char *agent_version,
             int first_time)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}", "device", d->id, "class",
	                 gw_registry_class(r, d), "agent_version", agent_version, "model",
	                 d->model[0] ? json_string(d->model) : json_null(), "version",
	                 d->version[0] ? json_string(d->version) : json_null(), "first_time",
	                 first_time);
}

/* One state message on its way into the store (see gw_registry_on_states). */
struct pending_state {
	const struct gw_state_msg *in;
	struct tfp_state s;
	struct gw_device *d;           /* known device, or fresh (first_time) */
	uint32_t hash;
	int first_time, went_online;
	uint64_t seq;                  /* device.online event number, when went_online */
	json_t *ev;
	uint8_t *rec;
	size_t reclen;
};

/* Decodes and checks; 1 when the message changes what the store holds, 0 when it only
 * proves the device alive, else a negative error (counted, logged). */
static int
state_prepare(struct gw_registry *r, const struct gw_state_msg *in, uint64_t now_ms,
              struct pending_state *p)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->in = in;
	if ((rc = tfp_state_decode(in->msg, in->len, &p->s)) != 0) {
		r->refused++;
		log_warnx("registry: state from %s refused: %s", in->id, tfp_strerror(rc));
		return -EBADMSG;
	}
	if (strcmp(p->s.device_id, in->id) != 0) {
		r->refused++;
		log_warnx("registry: state on %s's topic claims to be %s; refused", in->id,
		          p->s.device_id);
		return -EPERM;
	}
	p->d = gw_devtab_get(&r->tab, in->id);
	p->hash = fnv32(in->msg, in->len);
	p->first_time = p->d == NULL;
	p->went_online = p->first_time || !p->d->online;
	if (!p->went_online && p->d->state_hash == p->hash) {
		p->d->last_seen_ms = now_ms;
		return 0;
	}
	if (p->first_time) {
		if ((p->d = calloc(1, sizeof(*p->d))) == NULL)
			return -ENOMEM;
		snprintf(p->d->id, sizeof(p->d->id), "%s", in->id);
	}
	return 1;
}

/* The record, its audit entry and (going online) the event, in t. */
static int
state_write(struct gw_registry *r, struct gw_txn *t, uint64_t now_ms, struct pending_state *p)
{
	const struct tfp_state *s = &p->s;
	json_t *details;
	int rc;

	if ((rc = encode_record(p->in->msg, p->in->len, now_ms, 1, now_ms, p->d->tags, &p->rec,
	                        &p->reclen)) != 0)
		return rc;
	details = json_pack("{s:s, s:s, s:I, s:i}", "model", s->slots[s->active_slot].model,
	                    "version", s->slots[s->active_slot].version, "sequence",
	                    (json_int_t)s->slots[s->active_slot].sequence, "active_slot",
	                    (int)s->active_slot);
	if ((rc = gw_store_put_device(t, p->in->id, p->rec, p->reclen)) != 0) {
		json_decref(details);
		return rc;
	}
	if ((rc = audit(t, now_ms, p->in->id,
	                p->first_time ? "device.registered" : "device.state", details)) != 0)
		return rc;
	if (p->went_online && (rc = gw_store_event_seq_next(t, &p->seq)) == 0) {
		/* The event as it will read once the state applies, recorded in this commit. */
		struct gw_device next = *p->d;
		apply_state(r, &next, s);
		if ((p->ev = online_event(r, &next, s->agent_version, p->first_time)) != NULL)
			rc = gw_outbox_record(t, p->seq, "device.online", p->ev, now_ms);
	}
	return rc;
}

/* Committed: memory and the world learn of it. */
static int
state_apply(struct gw_registry *r, uint64_t now_ms, struct pending_state *p)
{
	struct gw_device *d = p->d;

	apply_state(r, d, &p->s);
	d->state_hash = p->hash;
	d->last_seen_ms = now_ms;
	d->online = 1;
	if (p->first_time) {
		int rc = gw_devtab_add(&r->tab, d);
		if (rc != 0)
			return rc;
		p->d = NULL;      /* the table owns it */
		p->first_time = 0;
	}
	if (p->went_online && r->emit != NULL && p->ev != NULL) {
		r->emit(r->arg, p->seq, "device.online", p->ev);
		p->ev = NULL;
	}
	return 0;
}

static void
state_release(struct pending_state *p)
{
	json_decref(p->ev);
	free(p->rec);
	if (p->first_time)
		free(p->d);
	memset(p, 0, sizeof(*p));
}

int
gw_registry_on_state(struct gw_registry *r, const char *id, const uint8_t *msg, size_t len,
                     uint64_t now_ms)
{
	struct gw_state_msg in = { id, msg, len };
	int rc;

	gw_registry_on_states(r, &in, 1, now_ms, &rc);
	return rc;
}

/* rcs[] while a batch is prepared, besides state_prepare's answers. */
#define STATE_LATER 2     /* the device's earlier state in this batch goes first */

void
gw_registry_on_states(struct gw_registry *r, const struct gw_state_msg *in, size_t n,
                      uint64_t now_ms, int *rcs)
{
	struct pending_state *p = calloc(n ? n : 1, sizeof(*p));
	struct gw_txn t = { 0 };
	size_t to_write = 0;
	int rc = 0;

	if (p == NULL) {
		for (size_t i = 0; i < n; i++)
			rcs[i] = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		rcs[i] = state_prepare(r, &in[i], now_ms, &p[i]);
		/* Two states of one device: the second waits for the first's commit. */
		for (size_t k = 0; k < i && rcs[i] == 1; k++)
			if (rcs[k] == 1 && strcmp(in[k].id, in[i].id) == 0)
				rcs[i] = STATE_LATER;
		to_write += rcs[i] == 1;
	}
	if (to_write > 0 && (rc = gw_store_begin(r->store, &t)) == 0) {
		for (size_t i = 0; i < n && rc == 0; i++)
			if (rcs[i] == 1)
				rc = state_write(r, &t, now_ms, &p[i]);
		if (rc == 0)
			rc = gw_store_commit(&t);
		else
			gw_store_abort(&t);
	}
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] == 1)
			rcs[i] = rc != 0 ? rc : state_apply(r, now_ms, &p[i]);
		state_release(&p[i]);
	}
	free(p);
	/* The repeats, in order, now that their first state is in. */
	for (size_t i = 0; i < n; i++)
		if (rcs[i] == STATE_LATER)
			gw_registry_on_states(r, &in[i], 1, now_ms, &rcs[i]);
}

int
gw_registry_on_conn(struct gw_registry *r, const char *id, const uint8_t *msg, size_t len,
                    uint64_t now_ms)
{
	struct gw_device *d = gw_devtab_get(&r->tab, id);
	struct tfp_cbor_reader rd;
	struct gw_txn t = { 0 };
	const void *old;
	size_t oldlen, reclen;
	struct record rec;
	uint8_t *buf = NULL;
	uint64_t v, seq;
	char last_seen[21];
	const char *cause;
	json_t *ev = NULL;
	int rc;

	tfp_cbor_reader_init(&rd, msg, len);
	if (tfp_cbor_read_uint(&rd, &v) != 0 || tfp_cbor_expect_end(&rd) != 0 ||
	    v > GW_CONN_OFFLINE_DISCONNECT) {
		r->refused++;
		log_warnx("registry: conn from %s is not 0, 1 or 2 in CBOR; refused", id);
		return -EBADMSG;
	}
	if (d == NULL || v == GW_CONN_ONLINE) {
		/* Online is announced by the state that follows; an unknown device is not
		 * registered until it says what it is. */
		if (d != NULL)
			d->last_seen_ms = now_ms;
		return 0;
	}
	if (!d->online)
		return 0;
	cause = v == GW_CONN_OFFLINE_WILL ? "will" : "disconnect";
	if ((rc = gw_store_begin(r->store, &t)) != 0)
		return rc;
	if ((rc = gw_store_get_device(&t, id, &old, &oldlen)) != 0 ||
	    (rc = decode_record(old, oldlen, &rec)) != 0 ||
	    (rc = encode_record(rec.state, rec.state_len, d->last_seen_ms, 0, rec.first_seen,
	                        d->tags, &buf, &reclen)) != 0 ||
	    (rc = gw_store_put_device(&t, id, buf, reclen)) != 0 ||
	    (rc = audit(&t, now_ms, id, "device.offline",
	                json_pack("{s:s}", "cause", cause))) != 0 ||
	    (rc = gw_store_event_seq_next(&t, &seq)) != 0)
		goto out;
	gw_format_time(d->last_seen_ms, last_seen);
	if ((ev = json_pack("{s:s, s:s, s:s}", "device", id, "cause", cause, "last_seen",
	                    last_seen)) != NULL &&
	    (rc = gw_outbox_record(&t, seq, "device.offline", ev, now_ms)) != 0)
		goto out;
	if ((rc = gw_store_commit(&t)) != 0)
		goto out;
	d->online = 0;
	if (r->emit != NULL && ev != NULL) {
		r->emit(r->arg, seq, "device.offline", ev);
		ev = NULL;
	}
	rc = 0;
out:
	json_decref(ev);
	gw_store_abort(&t);
	free(buf);
	return rc;
}

void
gw_registry_touch(struct gw_registry *r, const char *id, uint64_t now_ms)
{
	struct gw_device *d = gw_devtab_get(&r->tab, id);
	if (d != NULL)
		d->last_seen_ms = now_ms;
}

bool
gw_registry_fits(const struct gw_registry *r, const struct gw_device *d,
                 const struct tfp_manifest *m)
{
	if (strcmp(gw_registry_class(r, d), m->device_class) != 0 || d->ram_bytes < m->req.min_ram ||
	    d->flash_bytes < m->req.min_flash || d->agent_abi != m->req.agent_abi)
		return false;
	for (size_t i = 0; i < m->req.n_sensors; i++) {
		unsigned j;
		for (j = 0; j < r->nsensors; j++)
			if (strcmp(r->sensors[j], m->req.sensors[i]) == 0)
				break;
		if (j == r->nsensors || !(d->sensors & (UINT64_C(1) << j)))
			return false;
	}
	return true;
}

int
gw_registry_load_state(struct gw_registry *r, const char *id, struct tfp_state *s,
                       uint64_t *first_seen_ms)
{
	struct gw_txn t;
	struct record rec;
	const void *val;
	size_t len;
	int rc;

	if ((rc = gw_store_begin_read(r->store, &t)) != 0)
		return rc;
	if ((rc = gw_store_get_device(&t, id, &val, &len)) == 0) {
		if (decode_record(val, len, &rec) != 0 ||
		    tfp_state_decode(rec.state, rec.state_len, s) != 0)
			rc = -EBADMSG;
		else
			*first_seen_ms = rec.first_seen;
	}
	gw_store_abort(&t);
	return rc;
}

bool
gw_registry_has_tag(const struct gw_device *d, const char *tag)
{
	for (const char **t = d->tags; t != NULL && *t != NULL; t++)
		if (strcmp(*t, tag) == 0)
			return true;
	return false;
}

static int
listed(json_t *arr, const char *tag)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), tag) == 0)
			return 1;
	return 0;
}

int
gw_registry_set_tags(struct gw_registry *r, const char *id, json_t *add, json_t *remove,
                     const char *by, uint64_t now_ms, int *changed)
{
	struct gw_device *d = gw_devtab_get(&r->tab, id);
	const char *names[GW_REGISTRY_MAX_TAGS], **fresh = NULL;
	struct gw_txn t = { 0 };
	const void *old;
	size_t oldlen, reclen, n = 0, i;
	struct record rec;
	uint8_t *buf = NULL;
	json_t *v, *details;
	int rc;

	*changed = 0;
	if (d == NULL)
		return -ENOENT;
	for (const char **p = d->tags; p != NULL && *p != NULL; p++)
		if (remove == NULL || !listed(remove, *p))
			names[n++] = *p;
	json_array_foreach(add, i, v) {
		const char *tag = json_string_value(v);
		size_t k;
		for (k = 0; k < n && strcmp(names[k], tag) != 0; k++)
			;
		if (k < n)
			continue;
		if (n == GW_REGISTRY_MAX_TAGS)
			return -E2BIG;
		names[n++] = tag;
	}
	*changed = n != count_tags(d->tags);
	for (i = 0; i < n && !*changed; i++)
		*changed = !gw_registry_has_tag(d, names[i]);
	if (!*changed)
		return 0;   /* a repeat: nothing to commit */
	if ((rc = make_tags(r, names, n, &fresh)) != 0)
		return rc;
	details = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(details, json_string(names[i]));
	if ((rc = gw_store_begin(r->store, &t)) != 0) {
		json_decref(details);
		goto out;
	}
	if ((rc = gw_store_get_device(&t, id, &old, &oldlen)) != 0 ||
	    (rc = decode_record(old, oldlen, &rec)) != 0 ||
	    (rc = encode_record(rec.state, rec.state_len, rec.last_seen, rec.online,
	                        rec.first_seen, fresh, &buf, &reclen)) != 0 ||
	    (rc = gw_store_put_device(&t, id, buf, reclen)) != 0) {
		json_decref(details);
		goto out;
	}
	if ((rc = audit(&t, now_ms, by, "device.tags",
	                json_pack("{s:s, s:o}", "device", id, "tags", details))) != 0 ||
	    (rc = gw_store_commit(&t)) != 0)
		goto out;
	free(d->tags);
	d->tags = fresh;
	fresh = NULL;
	rc = 0;
out:
	gw_store_abort(&t);
	free(buf);
	free(fresh);
	return rc;
}

const struct gw_device *
gw_registry_get(const struct gw_registry *r, const char *id)
{
	return gw_devtab_get(&r->tab, id);
}

const char *
gw_registry_class(const struct gw_registry *r, const struct gw_device *d)
{
	return d->class_idx < r->nclasses ? r->classes[d->class_idx] : "";
}

size_t
gw_registry_count(const struct gw_registry *r)
{
	return r->tab.count;
}
