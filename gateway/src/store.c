/*
 * LMDB-backed durable state of the gateway. See store.h for the layout and the contract.
 */
#define _DEFAULT_SOURCE   /* madvise(MADV_DONTNEED) for gw_store_release_pages */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"

static const char *const db_names[GW_DB_COUNT] = {
	[GW_DB_META] = "meta",         [GW_DB_DEVICES] = "devices",
	[GW_DB_MODELS] = "models",     [GW_DB_BLOBS] = "blobs",
	[GW_DB_DELTAS] = "deltas",     [GW_DB_ROLLOUTS] = "rollouts",
	[GW_DB_TELEMETRY] = "telemetry", [GW_DB_AUDIT] = "audit",
	[GW_DB_OUTBOX] = "outbox",
};

#define DEVICE_ID_MAX 64
#define MODEL_NAME_MAX 32

/* Maps an LMDB result to the module's negative errno contract, logging the unexpected. */
static int
mdb_err(int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS: return 0;
	case MDB_NOTFOUND: return -ENOENT;
	case MDB_MAP_FULL: return -ENOSPC;
	case ENOSPC: return -ENOSPC;
	case ENOMEM: return -ENOMEM;
	default:
		log_warnx("store: %s: %s", what, mdb_strerror(rc));
		return -EIO;
	}
}

static void
be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The last sequence key in a BE64-keyed database, plus one (0 when empty). */
static int
next_seq(MDB_txn *txn, MDB_dbi dbi, uint64_t *next)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, dbi, &c);

	if (rc != 0)
		return mdb_err(rc, "cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == MDB_NOTFOUND) {
		*next = 0;
		rc = 0;
	} else if (rc == 0 && k.mv_size == 8) {
		*next = be64_get(k.mv_data) + 1;
	} else if (rc == 0) {
		rc = -EIO;
		log_warnx("store: sequence key of %zu bytes", k.mv_size);
	} else {
		rc = mdb_err(rc, "last sequence");
	}
	mdb_cursor_close(c);
	return rc;
}

static int
check_schema(MDB_txn *txn, MDB_dbi meta)
{
	MDB_val k = { 6, "schema" }, v;
	uint8_t buf[8];
	int rc = mdb_get(txn, meta, &k, &v);

	if (rc == MDB_NOTFOUND) {
		be64_put(buf, GW_STORE_SCHEMA_VERSION);
		v.mv_size = 8;
		v.mv_data = buf;
		return mdb_err(mdb_put(txn, meta, &k, &v, 0), "write schema version");
	}
	if (rc != 0)
		return mdb_err(rc, "read schema version");
	if (v.mv_size != 8)
		return -EIO;
	if (be64_get(v.mv_data) > GW_STORE_SCHEMA_VERSION) {
		log_warnx("store: written by schema %llu, this tinyfleetd knows %d; refusing to "
		          "open it", (unsigned long long)be64_get(v.mv_data),
		          GW_STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	return 0;
}

int
gw_store_open(struct gw_store *s, const struct gw_store_config *cfg)
{
	MDB_txn *txn = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	if (cfg == NULL || cfg->path == NULL)
		return -EINVAL;
	s->cfg = *cfg;
	if (s->cfg.map_size == 0)
		s->cfg.map_size = (size_t)1 << 30;
	if (s->cfg.reserve == 0)
		s->cfg.reserve = s->cfg.map_size / 16;
	if (s->cfg.telemetry_keep == 0)
		s->cfg.telemetry_keep = 1000000;
	if (s->cfg.batch_max == 0)
		s->cfg.batch_max = 4096;
	if (s->cfg.reserve >= s->cfg.map_size)
		return -EINVAL;

	if (mkdir(cfg->path, 0750) != 0 && errno != EEXIST) {
		rc = -errno;
		log_warn("store: mkdir %s", cfg->path);
		return rc;
	}
	if ((rc = mdb_env_create(&s->env)) != 0)
		return mdb_err(rc, "create environment");
	if ((rc = mdb_env_set_maxdbs(s->env, GW_DB_COUNT)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, s->cfg.map_size)) != 0) {
		rc = mdb_err(rc, "configure environment");
		goto fail;
	}
	/* MDB_NOTLS: read transactions are not tied to a thread (libuv may run us anywhere
	 * in tests); the daemon itself only uses the loop thread. */
	if ((rc = mdb_env_open(s->env, cfg->path, MDB_NOTLS, 0640)) != 0) {
		log_warnx("store: open %s: %s", cfg->path, mdb_strerror(rc));
		rc = rc == ENOENT || rc == EACCES ? -rc : -EIO;
		goto fail;
	}
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		rc = mdb_err(rc, "begin");
		goto fail;
	}
	for (int i = 0; i < GW_DB_COUNT; i++) {
		if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i])) != 0) {
			rc = mdb_err(rc, db_names[i]);
			goto fail;
		}
	}
	if ((rc = check_schema(txn, s->dbi[GW_DB_META])) != 0 ||
	    (rc = next_seq(txn, s->dbi[GW_DB_AUDIT], &s->audit_next)) != 0 ||
	    (rc = next_seq(txn, s->dbi[GW_DB_TELEMETRY], &s->telemetry_next)) != 0)
		goto fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		rc = mdb_err(rc, "commit");
		goto fail;
	}
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	mdb_env_close(s->env);
	s->env = NULL;
	return rc;
}

void
gw_store_close(struct gw_store *s)
{
	if (s->env == NULL)
		return;
	if (s->batch_count > 0)
		gw_store_telemetry_flush(s);
	mdb_env_close(s->env);
	s->env = NULL;
	free(s->batch);
	s->batch = NULL;
	s->batch_len = s->batch_cap = s->batch_count = 0;
}

static int
begin(struct gw_store *s, struct gw_txn *t, unsigned flags)
{
	int rc;
	t->store = s;
	t->txn = NULL;
	t->audit_added = 0;
	rc = mdb_txn_begin(s->env, NULL, flags, &t->txn);
	return mdb_err(rc, "begin transaction");
}

int
gw_store_begin(struct gw_store *s, struct gw_txn *t)
{
	return begin(s, t, 0);
}

int
gw_store_begin_read(struct gw_store *s, struct gw_txn *t)
{
	return begin(s, t, MDB_RDONLY);
}

int
gw_store_commit(struct gw_txn *t)
{
	int rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	if (rc != 0)
		return mdb_err(rc, "commit");
	t->store->audit_next += t->audit_added;
	return 0;
}

void
gw_store_abort(struct gw_txn *t)
{
	if (t->txn != NULL)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
}

static int
put(struct gw_txn *t, enum gw_db db, const void *key, size_t klen, const void *val,
    size_t vlen, unsigned flags)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	return mdb_err(mdb_put(t->txn, t->store->dbi[db], &k, &v, flags), db_names[db]);
}

static int
get(struct gw_txn *t, enum gw_db db, const void *key, size_t klen, const void **val,
    size_t *vlen)
{
	MDB_val k = { klen, (void *)key }, v;
	int rc = mdb_get(t->txn, t->store->dbi[db], &k, &v);
	if (rc != 0)
		return mdb_err(rc, db_names[db]);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

static int
device_key(const char *id, size_t *len)
{
	*len = strlen(id);
	return *len == 0 || *len > DEVICE_ID_MAX ? -EINVAL : 0;
}

int
gw_store_put_device(struct gw_txn *t, const char *id, const void *rec, size_t len)
{
	size_t klen;
	int rc = device_key(id, &klen);
	return rc != 0 ? rc : put(t, GW_DB_DEVICES, id, klen, rec, len, 0);
}

int
gw_store_get_device(struct gw_txn *t, const char *id, const void **rec, size_t *len)
{
	size_t klen;
	int rc = device_key(id, &klen);
	return rc != 0 ? rc : get(t, GW_DB_DEVICES, id, klen, rec, len);
}

int
gw_store_del_device(struct gw_txn *t, const char *id)
{
	MDB_val k;
	size_t klen;
	int rc = device_key(id, &klen);
	if (rc != 0)
		return rc;
	k.mv_size = klen;
	k.mv_data = (void *)id;
	return mdb_err(mdb_del(t->txn, t->store->dbi[GW_DB_DEVICES], &k, NULL), "devices");
}

/* name, a zero byte, then the sequence big-endian, so one model's versions sort by seq. */
static int
model_key(uint8_t *key, size_t *klen, const char *name, uint64_t seq)
{
	size_t n = strlen(name);
	if (n == 0 || n > MODEL_NAME_MAX)
		return -EINVAL;
	memcpy(key, name, n);
	key[n] = 0;
	be64_put(key + n + 1, seq);
	*klen = n + 9;
	return 0;
}

int
gw_store_put_model(struct gw_txn *t, const char *name, uint64_t seq, const void *rec,
                   size_t len)
{
	uint8_t key[MODEL_NAME_MAX + 9];
	size_t klen;
	int rc = model_key(key, &klen, name, seq);
	return rc != 0 ? rc : put(t, GW_DB_MODELS, key, klen, rec, len, 0);
}

int
gw_store_get_model(struct gw_txn *t, const char *name, uint64_t seq, const void **rec,
                   size_t *len)
{
	uint8_t key[MODEL_NAME_MAX + 9];
	size_t klen;
	int rc = model_key(key, &klen, name, seq);
	return rc != 0 ? rc : get(t, GW_DB_MODELS, key, klen, rec, len);
}

int
gw_store_put_blob(struct gw_txn *t, const uint8_t digest[32], const void *data, size_t len)
{
	return put(t, GW_DB_BLOBS, digest, 32, data, len, 0);
}

int
gw_store_get_blob(struct gw_txn *t, const uint8_t digest[32], const void **data, size_t *len)
{
	return get(t, GW_DB_BLOBS, digest, 32, data, len);
}

int
gw_store_put_delta(struct gw_txn *t, const uint8_t from[32], const uint8_t to[32],
                   const void *data, size_t len)
{
	uint8_t key[64];
	memcpy(key, from, 32);
	memcpy(key + 32, to, 32);
	return put(t, GW_DB_DELTAS, key, sizeof(key), data, len, 0);
}

int
gw_store_get_delta(struct gw_txn *t, const uint8_t from[32], const uint8_t to[32],
                   const void **data, size_t *len)
{
	uint8_t key[64];
	memcpy(key, from, 32);
	memcpy(key + 32, to, 32);
	return get(t, GW_DB_DELTAS, key, sizeof(key), data, len);
}

int
gw_store_put_rollout(struct gw_txn *t, uint64_t id, const void *rec, size_t len)
{
	uint8_t key[8];
	be64_put(key, id);
	return put(t, GW_DB_ROLLOUTS, key, sizeof(key), rec, len, 0);
}

int
gw_store_get_rollout(struct gw_txn *t, uint64_t id, const void **rec, size_t *len)
{
	uint8_t key[8];
	be64_put(key, id);
	return get(t, GW_DB_ROLLOUTS, key, sizeof(key), rec, len);
}

/* ---- rollout engine records (see store.h) ---------------------------------------------- */

#define ROLLOUT_ID_MAX 32

/* "r/<id>" or "d/<id>/<device>" (device may be NULL: the prefix "d/<id>/"). */
static int
rollout_key(char *key, size_t cap, size_t *klen, char kind, const char *id,
            const char *device)
{
	size_t n = strlen(id);
	int w;

	if (n == 0 || n > ROLLOUT_ID_MAX || strchr(id, '/') != NULL)
		return -EINVAL;
	if (kind == 'r')
		w = snprintf(key, cap, "r/%s", id);
	else if (device == NULL)
		w = snprintf(key, cap, "d/%s/", id);
	else if (strlen(device) == 0 || strlen(device) > DEVICE_ID_MAX)
		return -EINVAL;
	else
		w = snprintf(key, cap, "d/%s/%s", id, device);
	if (w < 0 || (size_t)w >= cap)
		return -EINVAL;
	*klen = (size_t)w;
	return 0;
}

int
gw_store_put_rollout_rec(struct gw_txn *t, const char *id, const void *rec, size_t len)
{
	char key[ROLLOUT_ID_MAX + 4];
	size_t klen;
	int rc = rollout_key(key, sizeof(key), &klen, 'r', id, NULL);
	return rc != 0 ? rc : put(t, GW_DB_ROLLOUTS, key, klen, rec, len, 0);
}

int
gw_store_put_rollout_dev(struct gw_txn *t, const char *id, const char *device,
                         const void *rec, size_t len)
{
	char key[ROLLOUT_ID_MAX + DEVICE_ID_MAX + 8];
	size_t klen;
	int rc = rollout_key(key, sizeof(key), &klen, 'd', id, device);
	return rc != 0 ? rc : put(t, GW_DB_ROLLOUTS, key, klen, rec, len, 0);
}

/* Visits the keys starting with prefix; fn gets the key without it (NUL-terminated). */
static int
each_prefixed(struct gw_txn *t, const char *prefix, size_t plen,
              int (*fn)(void *arg, const char *rest, const void *val, size_t vlen), void *arg)
{
	MDB_cursor *c = NULL;
	MDB_val k = { plen, (void *)prefix }, v;
	char rest[ROLLOUT_ID_MAX + DEVICE_ID_MAX + 8];
	int rc;

	if ((rc = mdb_cursor_open(t->txn, t->store->dbi[GW_DB_ROLLOUTS], &c)) != 0)
		return mdb_err(rc, "cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		int stop;
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (k.mv_size - plen >= sizeof(rest))
			continue;
		memcpy(rest, (const char *)k.mv_data + plen, k.mv_size - plen);
		rest[k.mv_size - plen] = '\0';
		if ((stop = fn(arg, rest, v.mv_data, v.mv_size)) != 0) {
			mdb_cursor_close(c);
			return stop;
		}
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_err(rc, "iterate");
}

int
gw_store_each_rollout(struct gw_txn *t, gw_store_rollout_fn fn, void *arg)
{
	return each_prefixed(t, "r/", 2, fn, arg);
}

int
gw_store_each_rollout_dev(struct gw_txn *t, const char *id, gw_store_rollout_dev_fn fn,
                          void *arg)
{
	char key[ROLLOUT_ID_MAX + 4];
	size_t klen;
	int rc = rollout_key(key, sizeof(key), &klen, 'd', id, NULL);
	return rc != 0 ? rc : each_prefixed(t, key, klen, fn, arg);
}

/* Bumps the 8-byte big-endian counter under `name` in the meta table (first value 1). */
static int
meta_counter_next(struct gw_txn *t, const char *name, const char *what, uint64_t *out)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	uint8_t buf[8];
	uint64_t n = 1;
	int rc = mdb_get(t->txn, t->store->dbi[GW_DB_META], &k, &v);

	if (rc == 0 && v.mv_size == 8)
		n = be64_get(v.mv_data) + 1;
	else if (rc != MDB_NOTFOUND)
		return rc == 0 ? -EIO : mdb_err(rc, what);
	be64_put(buf, n);
	v.mv_size = sizeof(buf);
	v.mv_data = buf;
	if ((rc = mdb_put(t->txn, t->store->dbi[GW_DB_META], &k, &v, 0)) != 0)
		return mdb_err(rc, what);
	*out = n;
	return 0;
}

int
gw_store_command_id_next(struct gw_txn *t, uint64_t *id)
{
	return meta_counter_next(t, "command_id", "command id", id);
}

int
gw_store_each(struct gw_txn *t, enum gw_db db, gw_store_visit_fn fn, void *arg)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc;

	if ((unsigned)db >= GW_DB_COUNT)
		return -EINVAL;
	if ((rc = mdb_cursor_open(t->txn, t->store->dbi[db], &c)) != 0)
		return mdb_err(rc, "cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		int stop = fn(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
		if (stop != 0) {
			mdb_cursor_close(c);
			return stop;
		}
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : mdb_err(rc, "iterate");
}

int
gw_store_audit_append(struct gw_txn *t, const char *entry, size_t len, uint64_t *seq)
{
	uint8_t key[8];
	uint64_t n = t->store->audit_next + t->audit_added;
	int rc;

	be64_put(key, n);
	/* MDB_APPEND: keys only grow, and a key out of order is a bug worth an error. */
	rc = put(t, GW_DB_AUDIT, key, sizeof(key), entry, len, MDB_APPEND);
	if (rc != 0)
		return rc;
	t->audit_added++;
	if (seq != NULL)
		*seq = n;
	return 0;
}

int
gw_store_event_seq_next(struct gw_txn *t, uint64_t *seq)
{
	return meta_counter_next(t, "event_seq", "event sequence", seq);
}

/* ---- telemetry ---- */

/* Batch entry: u32 length of the value, then the value as stored. */
#define BATCH_HDR 4

static size_t
map_used(struct gw_store *s)
{
	MDB_envinfo info;
	MDB_stat st;
	if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
		return 0;
	return (info.me_last_pgno + 1) * (size_t)st.ms_psize;
}

static void
batch_drop(struct gw_store *s)
{
	s->stats.telemetry_dropped += s->batch_count;
	s->batch_len = 0;
	s->batch_count = 0;
}

/* Deletes the oldest records so that at most telemetry_keep remain. */
static int
trim_telemetry(struct gw_store *s, MDB_txn *txn)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	MDB_stat st;
	int rc;

	if ((rc = mdb_stat(txn, s->dbi[GW_DB_TELEMETRY], &st)) != 0)
		return mdb_err(rc, "telemetry stat");
	if (st.ms_entries <= s->cfg.telemetry_keep)
		return 0;
	if ((rc = mdb_cursor_open(txn, s->dbi[GW_DB_TELEMETRY], &c)) != 0)
		return mdb_err(rc, "cursor");
	for (size_t excess = st.ms_entries - s->cfg.telemetry_keep; excess > 0; excess--) {
		if ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) != 0 ||
		    (rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return mdb_err(rc, "telemetry trim");
}

int
gw_store_telemetry_flush(struct gw_store *s)
{
	MDB_txn *txn = NULL;
	size_t off = 0, stored = 0;
	uint64_t seq = s->telemetry_next;
	int rc;

	if (s->batch_count == 0)
		return 0;
	/* Pages written are at least the payload; leave the reserve to control state. */
	if (map_used(s) + 2 * s->batch_len > s->cfg.map_size - s->cfg.reserve) {
		log_warnx("store: telemetry batch of %zu dropped: map above its telemetry limit",
		          s->batch_count);
		batch_drop(s);
		return -ENOSPC;
	}
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		rc = mdb_err(rc, "begin telemetry");
		goto drop;
	}
	while (off < s->batch_len) {
		uint32_t vlen;
		uint8_t key[8];
		MDB_val k = { sizeof(key), key }, v;

		memcpy(&vlen, s->batch + off, BATCH_HDR);
		v.mv_size = vlen;
		v.mv_data = s->batch + off + BATCH_HDR;
		be64_put(key, seq);
		if ((rc = mdb_put(txn, s->dbi[GW_DB_TELEMETRY], &k, &v, MDB_APPEND)) != 0) {
			rc = mdb_err(rc, "telemetry put");
			goto drop;
		}
		seq++;
		stored++;
		off += BATCH_HDR + vlen;
	}
	if ((rc = trim_telemetry(s, txn)) != 0)
		goto drop;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		rc = mdb_err(rc, "telemetry commit");
		goto drop;
	}
	s->telemetry_next = seq;
	s->stats.telemetry_stored += stored;
	s->stats.telemetry_commits++;
	s->batch_len = 0;
	s->batch_count = 0;
	return (int)stored;
drop:
	if (txn != NULL)
		mdb_txn_abort(txn);
	log_warnx("store: telemetry batch of %zu dropped: %s", s->batch_count, strerror(-rc));
	batch_drop(s);
	return rc;
}

int
gw_store_telemetry_add(struct gw_store *s, const char *device, uint64_t time_ms,
                       const void *pack, size_t len)
{
	size_t idlen = strlen(device), vlen = 1 + idlen + 8 + len, need;
	uint32_t vlen32;
	uint8_t *p;

	if (idlen == 0 || idlen > DEVICE_ID_MAX || len > (1u << 20))
		return -EINVAL;
	if (s->batch_count >= s->cfg.batch_max)
		gw_store_telemetry_flush(s);
	need = s->batch_len + BATCH_HDR + vlen;
	if (need > s->batch_cap) {
		size_t cap = s->batch_cap ? s->batch_cap : 65536;
		while (cap < need)
			cap *= 2;
		if ((p = realloc(s->batch, cap)) == NULL) {
			s->stats.telemetry_dropped++;
			return -ENOMEM;
		}
		s->batch = p;
		s->batch_cap = cap;
	}
	p = s->batch + s->batch_len;
	vlen32 = (uint32_t)vlen;
	memcpy(p, &vlen32, BATCH_HDR);
	p += BATCH_HDR;
	*p++ = (uint8_t)idlen;
	memcpy(p, device, idlen);
	p += idlen;
	be64_put(p, time_ms);
	p += 8;
	if (len > 0)
		memcpy(p, pack, len);
	s->batch_len = need;
	s->batch_count++;
	return 0;
}

size_t
gw_store_telemetry_pending(const struct gw_store *s)
{
	return s->batch_count;
}

int
gw_store_telemetry_parse(const void *val, size_t vlen, const char **device,
                         size_t *device_len, uint64_t *time_ms, const void **pack,
                         size_t *pack_len)
{
	const uint8_t *p = val;
	size_t idlen;

	if (vlen < 1)
		return -EINVAL;
	idlen = p[0];
	if (idlen == 0 || vlen < 1 + idlen + 8)
		return -EINVAL;
	*device = (const char *)p + 1;
	*device_len = idlen;
	*time_ms = be64_get(p + 1 + idlen);
	*pack = p + 1 + idlen + 8;
	*pack_len = vlen - (1 + idlen + 8);
	return 0;
}

void
gw_store_stats(struct gw_store *s, struct gw_store_stats *out)
{
	*out = s->stats;
	out->audit_next = s->audit_next;
	out->map_used = s->env != NULL ? map_used(s) : 0;
	out->map_size = s->cfg.map_size;
}

/* The start and length of the mapping that holds p, from /proc/self/maps (LMDB does not
 * tell where it mapped the file unless the map is fixed). 0 or -1. */
static int
mapping_of(const void *p, uintptr_t *start, size_t *len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int rc = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (uintptr_t)p >= lo &&
		    (uintptr_t)p < hi) {
			*start = lo;
			*len = hi - lo;
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

void
gw_store_release_pages(struct gw_store *s)
{
	MDB_txn *txn = NULL;
	MDB_val k = { 6, "schema" }, v;
	uintptr_t start;
	size_t len;
	int found;

	/* Any value read points into the map: find the mapping around the schema record. */
	if (s->env == NULL || mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return;
	found = mdb_get(txn, s->dbi[GW_DB_META], &k, &v) == 0 &&
	        mapping_of(v.mv_data, &start, &len) == 0;
	mdb_txn_abort(txn);
	/* The map is read-only and shared (no MDB_WRITEMAP): its pages are clean copies of the
	 * file, so dropping them from this process loses nothing; a later read maps them again
	 * from the page cache or the file. */
	if (found && madvise((void *)start, len, MADV_DONTNEED) != 0)
		log_warn("store: madvise");
}

/* ---- event outbox ---- */

int
gw_store_outbox_put(struct gw_txn *t, uint64_t seq, const void *val, size_t len)
{
	uint8_t key[8];
	be64_put(key, seq);
	return put(t, GW_DB_OUTBOX, key, sizeof(key), val, len, 0);
}

int
gw_store_outbox_get(struct gw_txn *t, uint64_t seq, const void **val, size_t *len)
{
	uint8_t key[8];
	be64_put(key, seq);
	return get(t, GW_DB_OUTBOX, key, sizeof(key), val, len);
}

int
gw_store_outbox_next(struct gw_txn *t, uint64_t from, uint64_t *seq, const void **val,
                     size_t *len)
{
	uint8_t key[8];
	MDB_cursor *c;
	MDB_val k = { sizeof(key), key }, v;
	int rc;

	be64_put(key, from);
	if ((rc = mdb_cursor_open(t->txn, t->store->dbi[GW_DB_OUTBOX], &c)) != 0)
		return mdb_err(rc, "outbox cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	mdb_cursor_close(c);
	if (rc == 0 && k.mv_size != 8)
		return -EIO;
	if (rc != 0)
		return mdb_err(rc, "outbox");
	*seq = be64_get(k.mv_data);
	*val = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int
gw_store_outbox_del(struct gw_txn *t, uint64_t seq)
{
	uint8_t key[8];
	MDB_val k = { sizeof(key), key };
	be64_put(key, seq);
	return mdb_err(mdb_del(t->txn, t->store->dbi[GW_DB_OUTBOX], &k, NULL), "outbox");
}
