/*
 * Model catalog. See catalog.h for the contract.
 */
#include "catalog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include <jansson.h>

#include "log.h"
#include "clock.h"
#include "tinyfleet/protocol/cbor_io.h"
#include "tinyfleet/protocol/container.h"

/* Store record keys (the catalog's own CBOR map). */
enum { REC_MANIFEST = 1, REC_PUBLISHED_AT = 2, REC_PUBLISHED_BY = 3 };

static int
read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	int rc = 0;

	if (f == NULL)
		return -errno;
	for (;;) {
		if (cap - n < 4096) {
			char *p;
			if (cap > (1u << 20)) {
				rc = -EFBIG;
				break;
			}
			cap = cap ? cap * 2 : 8192;
			if ((p = realloc(buf, cap + 1)) == NULL) {
				rc = -ENOMEM;
				break;
			}
			buf = p;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int
gw_catalog_open(struct gw_catalog *c, struct gw_store *s, const char *path)
{
	static const char begin[] = "-----BEGIN PUBLIC KEY-----";
	static const char end[] = "-----END PUBLIC KEY-----";
	char *text = NULL, *p;
	size_t len;
	int rc;

	memset(c, 0, sizeof(*c));
	c->store = s;
	if ((rc = read_file(path, &text, &len)) != 0) {
		log_warnx("catalog: release keys %s: %s", path, strerror(-rc));
		return rc;
	}
	/* mbedTLS parses one PEM block at a time: cut the file into its blocks. */
	for (p = strstr(text, begin); p != NULL; p = strstr(p, begin)) {
		char *e = strstr(p, end), saved;
		if (e == NULL)
			break;
		e += sizeof(end) - 1;
		saved = *e;
		*e = '\0';
		if (c->nkeys >= GW_CATALOG_MAX_KEYS) {
			log_warnx("catalog: %s: more than %d keys", path, GW_CATALOG_MAX_KEYS);
			rc = -EINVAL;
		} else if (tfp_cose_key_from_pem(p, &c->keys[c->nkeys]) != 0) {
			log_warnx("catalog: %s: key %zu is not a P-256 public key", path, c->nkeys + 1);
			rc = -EINVAL;
		} else {
			c->nkeys++;
		}
		*e = saved;
		p = e;
		if (rc != 0)
			break;
	}
	free(text);
	if (rc == 0 && c->nkeys == 0) {
		log_warnx("catalog: %s holds no PEM public key", path);
		rc = -ENOKEY;
	}
	if (rc == 0)
		log_info("catalog: %zu release key(s) trusted", c->nkeys);
	return rc;
}

static int
encode_record(const uint8_t *manifest, size_t mlen, uint64_t at, const char *by,
              uint8_t *buf, size_t cap, size_t *len)
{
	struct tfp_cbor_writer w;
	tfp_cbor_writer_init(&w, buf, cap);
	tfp_cbor_put_map(&w, 3);
	tfp_cbor_put_uint(&w, REC_MANIFEST);
	tfp_cbor_put_bytes(&w, manifest, mlen);
	tfp_cbor_put_uint(&w, REC_PUBLISHED_AT);
	tfp_cbor_put_uint(&w, at);
	tfp_cbor_put_uint(&w, REC_PUBLISHED_BY);
	tfp_cbor_put_textz(&w, by);
	return tfp_cbor_writer_finish(&w, len) == 0 ? 0 : -EOVERFLOW;
}

/* Splits a stored record; the manifest pointer borrows val. */
static int
decode_record(const void *val, size_t len, const uint8_t **manifest, size_t *mlen,
              uint64_t *at, char *by, size_t bycap)
{
	struct tfp_cbor_reader r;
	size_t n;
	uint64_t key;

	*manifest = NULL;
	tfp_cbor_reader_init(&r, val, len);
	if (tfp_cbor_read_map(&r, &n) != 0)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		int rc = tfp_cbor_read_uint(&r, &key);
		if (rc == 0) {
			switch (key) {
			case REC_MANIFEST: rc = tfp_cbor_read_bytes(&r, manifest, mlen); break;
			case REC_PUBLISHED_AT: rc = tfp_cbor_read_uint(&r, at); break;
			case REC_PUBLISHED_BY: rc = tfp_cbor_read_text_into(&r, by, bycap); break;
			default: rc = tfp_cbor_skip(&r); break;
			}
		}
		if (rc != 0)
			return -EBADMSG;
	}
	return *manifest != NULL ? 0 : -EBADMSG;
}

/* The catalog decodes stored manifests without re-checking signatures (they were checked
 * on publish) and without an expiry check (the store is history). */
static int
decode_model(const void *val, size_t len, struct gw_model *out)
{
	struct tfp_cbor_reader r;
	const uint8_t *cose, *payload = NULL;
	size_t clen, plen = 0, n;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = decode_record(val, len, &cose, &clen, &out->published_ms, out->published_by,
	                        sizeof(out->published_by))) != 0)
		return rc;
	/* COSE_Sign1 = [protected, unprotected, payload, signature], maybe tagged. */
	tfp_cbor_reader_init(&r, cose, clen);
	{
		struct tfp_cbor_item it;
		if (tfp_cbor_peek(&r, &it) == 0 && it.type == TFP_CBOR_TAG)
			tfp_cbor_next(&r, &it);
	}
	if (tfp_cbor_read_array(&r, &n) != 0 || n != 4 || tfp_cbor_skip(&r) != 0 ||
	    tfp_cbor_skip(&r) != 0 || tfp_cbor_read_bytes(&r, &payload, &plen) != 0)
		return -EBADMSG;
	return tfp_manifest_decode(payload, plen, &out->m) == 0 ? 0 : -EBADMSG;
}

int
gw_catalog_get(struct gw_catalog *c, const char *name, uint64_t seq, struct gw_model *out)
{
	struct gw_txn t;
	const void *val;
	size_t len;
	int rc;

	if ((rc = gw_store_begin_read(c->store, &t)) != 0)
		return rc;
	rc = gw_store_get_model(&t, name, seq, &val, &len);
	if (rc == 0)
		rc = decode_model(val, len, out);
	gw_store_abort(&t);
	return rc;
}

int
gw_catalog_manifest(struct gw_catalog *c, const char *name, uint64_t seq, uint8_t *buf,
                    size_t cap, size_t *len)
{
	struct gw_txn t;
	const void *val;
	const uint8_t *cose;
	size_t vlen, clen;
	uint64_t at;
	char by[65];
	int rc;

	if ((rc = gw_store_begin_read(c->store, &t)) != 0)
		return rc;
	if ((rc = gw_store_get_model(&t, name, seq, &val, &vlen)) == 0 &&
	    (rc = decode_record(val, vlen, &cose, &clen, &at, by, sizeof(by))) == 0) {
		if (clen > cap) {
			rc = -ENOBUFS;
		} else {
			memcpy(buf, cose, clen);
			*len = clen;
		}
	}
	gw_store_abort(&t);
	return rc;
}

struct version_ctx {
	const char *name;
	size_t name_len;
	const char *version;
	struct gw_model *out;
	int found;
};

static int
match_version(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct version_ctx *v = arg;
	const uint8_t *k = key;
	if (klen != v->name_len + 9 || memcmp(k, v->name, v->name_len) != 0 || k[v->name_len] != 0)
		return 0;
	if (decode_model(val, vlen, v->out) == 0 && strcmp(v->out->m.version, v->version) == 0) {
		v->found = 1;
		return 1;
	}
	return 0;
}

int
gw_catalog_find_version(struct gw_catalog *c, const char *name, const char *version,
                        struct gw_model *out)
{
	struct version_ctx v = { name, strlen(name), version, out, 0 };
	struct gw_txn t;
	int rc;

	if ((rc = gw_store_begin_read(c->store, &t)) != 0)
		return rc;
	rc = gw_store_each(&t, GW_DB_MODELS, match_version, &v);
	gw_store_abort(&t);
	if (rc < 0)
		return rc;
	return v.found ? 0 : -ENOENT;
}

struct newest_ctx {
	const char *name;
	size_t name_len;
	uint64_t max_seq;
	int found;
};

static int
find_newest(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct newest_ctx *n = arg;
	const uint8_t *k = key;
	(void)val;
	(void)vlen;
	if (klen == n->name_len + 9 && memcmp(k, n->name, n->name_len) == 0 &&
	    k[n->name_len] == 0) {
		uint64_t seq = 0;
		for (int i = 0; i < 8; i++)
			seq = seq << 8 | k[n->name_len + 1 + i];
		if (!n->found || seq > n->max_seq)
			n->max_seq = seq;
		n->found = 1;
	}
	return 0;
}

int
gw_catalog_latest(struct gw_catalog *c, const char *name, struct gw_model *out)
{
	struct newest_ctx newest = { name, strlen(name), 0, 0 };
	struct gw_txn t;
	int rc;

	if ((rc = gw_store_begin_read(c->store, &t)) != 0)
		return rc;
	rc = gw_store_each(&t, GW_DB_MODELS, find_newest, &newest);
	gw_store_abort(&t);
	if (rc < 0)
		return rc;
	return newest.found ? gw_catalog_get(c, name, newest.max_seq, out) : -ENOENT;
}

struct list_ctx {
	const char *name;
	size_t name_len;
	struct gw_model *v;
	size_t n, cap;
	int err;
};

static int
collect(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct list_ctx *l = arg;
	const uint8_t *k = key;

	if (l->name != NULL && (klen != l->name_len + 9 || memcmp(k, l->name, l->name_len) != 0 ||
	                        k[l->name_len] != 0))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct gw_model *p = realloc(l->v, cap * sizeof(*p));
		if (p == NULL) {
			l->err = -ENOMEM;
			return 1;
		}
		l->v = p;
		l->cap = cap;
	}
	if (decode_model(val, vlen, &l->v[l->n]) == 0)
		l->n++;
	else
		log_warnx("catalog: unreadable record of %zu bytes skipped", vlen);
	return 0;
}

int
gw_catalog_list(struct gw_catalog *c, const char *name, struct gw_model **out, size_t *n)
{
	struct list_ctx l = { name, name != NULL ? strlen(name) : 0, NULL, 0, 0, 0 };
	struct gw_txn t;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = gw_store_begin_read(c->store, &t)) != 0)
		return rc;
	rc = gw_store_each(&t, GW_DB_MODELS, collect, &l);
	gw_store_abort(&t);
	if (l.err != 0 || rc < 0) {
		free(l.v);
		return l.err != 0 ? l.err : rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

static const char *
code_of(int tfp_err)
{
	switch (tfp_err) {
	case TFP_ERR_BAD_SIGNATURE: return "bad_signature";
	case TFP_ERR_UNKNOWN_KEY: return "unknown_key";
	case TFP_ERR_EXPIRED: return "expired";
	default: return "manifest_invalid";
	}
}

int
gw_catalog_publish(struct gw_catalog *c, const uint8_t *manifest, size_t mlen,
                   const uint8_t *container, size_t clen, const char *by, uint64_t now_ms,
                   struct gw_model *out, int *created, const char **code, char why[GW_CATALOG_WHY_MAX])
{
	struct newest_ctx newest = { 0 };
	uint8_t digest[32], *rec = NULL;
	struct gw_txn t = { 0 };
	struct gw_model old;
	size_t reclen;
	char at[21], *text = NULL;
	json_t *entry;
	int rc;

	*created = 0;
	*code = NULL;
	why[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (mlen > GW_CATALOG_MANIFEST_MAX || clen > GW_CATALOG_CONTAINER_MAX) {
		*code = "too_large";
		snprintf(why, GW_CATALOG_WHY_MAX, "manifest over %d bytes or container over %u bytes",
		         GW_CATALOG_MANIFEST_MAX, GW_CATALOG_CONTAINER_MAX);
		return -EMSGSIZE;
	}
	rc = tfp_manifest_verify(manifest, mlen, c->keys, c->nkeys, now_ms / 1000, &out->m);
	if (rc != 0) {
		*code = code_of(rc);
		snprintf(why, GW_CATALOG_WHY_MAX, "manifest refused: %s", tfp_strerror(rc));
		return -EBADMSG;
	}
	if (out->m.image_size != clen) {
		*code = "size_mismatch";
		snprintf(why, GW_CATALOG_WHY_MAX, "container is %zu bytes, the manifest says %llu", clen,
		         (unsigned long long)out->m.image_size);
		return -EBADMSG;
	}
	if (mbedtls_sha256_ret(container, clen, digest, 0) != 0) {
		*code = "internal";
		snprintf(why, GW_CATALOG_WHY_MAX, "SHA-256 failed");
		return -EIO;
	}
	if (memcmp(digest, out->m.digest, sizeof(digest)) != 0) {
		*code = "digest_mismatch";
		snprintf(why, GW_CATALOG_WHY_MAX, "the container's SHA-256 is not the manifest's digest");
		return -EBADMSG;
	}

	/* The digest binds the bytes to the signature; the container must also be one the
	 * devices can read, and say it is the model the manifest names. */
	{
		struct tfp_container ct;
		if ((rc = tfp_container_open(&ct, container, clen)) != 0) {
			*code = "invalid_request";
			snprintf(why, GW_CATALOG_WHY_MAX, "the container is not a readable model: %s",
			         tfp_strerror(rc));
			return -EBADMSG;
		}
		if (strcmp(ct.info.name, out->m.name) != 0 ||
		    strcmp(ct.info.version, out->m.version) != 0 ||
		    ct.info.format_version != out->m.container_version) {
			*code = "invalid_request";
			snprintf(why, GW_CATALOG_WHY_MAX, "the container is %s %s (format %u), the manifest names "
			         "%s %s (format %u)", ct.info.name, ct.info.version,
			         ct.info.format_version, out->m.name, out->m.version,
			         (unsigned)out->m.container_version);
			return -EBADMSG;
		}
	}

	/* The same version again: ok and unchanged; another content under it: conflict. */
	if (gw_catalog_get(c, out->m.name, out->m.sequence, &old) == 0) {
		if (memcmp(old.m.digest, out->m.digest, 32) == 0) {
			*out = old;
			return 0;
		}
		*code = "conflict";
		snprintf(why, GW_CATALOG_WHY_MAX, "%s sequence %llu is published with another digest", out->m.name,
		         (unsigned long long)out->m.sequence);
		return -EEXIST;
	}
	newest.name = out->m.name;
	newest.name_len = strlen(out->m.name);
	if ((rc = gw_store_begin(c->store, &t)) != 0)
		goto store_error;
	if ((rc = gw_store_each(&t, GW_DB_MODELS, find_newest, &newest)) < 0)
		goto store_error;
	if (newest.found && newest.max_seq >= out->m.sequence) {
		gw_store_abort(&t);
		*code = "sequence_conflict";
		snprintf(why, GW_CATALOG_WHY_MAX, "sequence %llu is not above %s's newest, %llu",
		         (unsigned long long)out->m.sequence, out->m.name,
		         (unsigned long long)newest.max_seq);
		return -EEXIST;
	}

	snprintf(out->published_by, sizeof(out->published_by), "%s", by);
	out->published_ms = now_ms;
	reclen = mlen + 128;
	if ((rec = malloc(reclen)) == NULL) {
		rc = -ENOMEM;
		goto store_error;
	}
	if ((rc = encode_record(manifest, mlen, now_ms, by, rec, reclen, &reclen)) != 0)
		goto store_error;
	gw_format_time(now_ms, at);
	entry = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:I}}", "at", at, "by", by, "action",
	                  "model.publish", "details", "model", out->m.name, "version",
	                  out->m.version, "sequence", (json_int_t)out->m.sequence);
	text = entry != NULL ? json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(entry);
	if (text == NULL) {
		rc = -ENOMEM;
		goto store_error;
	}
	if ((rc = gw_store_put_blob(&t, digest, container, clen)) != 0 ||
	    (rc = gw_store_put_model(&t, out->m.name, out->m.sequence, rec, reclen)) != 0 ||
	    (rc = gw_store_audit_append(&t, text, strlen(text), NULL)) != 0 ||
	    (rc = gw_store_commit(&t)) != 0)
		goto store_error;
	free(text);
	free(rec);
	*created = 1;
	log_notice("catalog: %s %s (sequence %llu, %zu bytes) published by %s", out->m.name,
	           out->m.version, (unsigned long long)out->m.sequence, clen, by);
	return 0;
store_error:
	gw_store_abort(&t);
	free(text);
	free(rec);
	*code = rc == -ENOSPC ? "storage_full" : "internal";
	snprintf(why, GW_CATALOG_WHY_MAX, "store: %s", strerror(-rc));
	return rc;
}
