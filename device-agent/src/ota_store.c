/*
 * OTA persistence: the two metadata copies, slot page writing and slot digests.
 *
 * Metadata copies live in two pages. A store always erases and rewrites the copy that is
 * NOT the current one, with the next sequence number and a CRC-32 over the record, so a
 * torn erase or write damages only the copy being replaced: the current copy stays valid
 * until the new one is complete. Load takes the valid copy with the higher sequence.
 */
#include <string.h>

#include <mbedtls/sha256.h>

#include "crc32.h"
#include "ota_int.h"

#define META_MAGIC 0x32544f54u   /* "TOT2": layout 2 (settings added) */

static uint32_t
meta_crc(const uint8_t *rec)
{
	return tfa__crc32(0, rec, offsetof(struct tfa_ota_meta, crc));
}

uint32_t
tfa__slot_base(const struct tfa_ota *o, unsigned slot)
{
	return o->cfg.slot_page[slot] * o->port->flash.page_size;
}

uint32_t
tfa__slot_bytes(const struct tfa_ota *o)
{
	return o->cfg.slot_pages * o->port->flash.page_size;
}

int
tfa__check_geometry(const struct tfa_port *p, const struct tfa_ota_config *cfg)
{
	const struct tfa_flash_geom *g = &p->flash;

	if (g->page_size == 0 || g->page_size > TFA_OTA_PAGE_MAX ||
	    sizeof(struct tfa_ota_meta) > g->page_size || g->align == 0 || g->align > 64 ||
	    (g->align & (g->align - 1)) != 0 || g->page_size % g->align != 0)
		return TFA_ERR_GEOMETRY;
	if (cfg->slot_pages == 0 || cfg->meta_page + 2 > g->pages)
		return TFA_ERR_GEOMETRY;
	for (unsigned s = 0; s < TFP_SLOTS; s++) {
		uint32_t a = cfg->slot_page[s], b = a + cfg->slot_pages;
		if (b > g->pages || b < a)
			return TFA_ERR_GEOMETRY;
		if (a < cfg->meta_page + 2 && cfg->meta_page < b)
			return TFA_ERR_GEOMETRY;
	}
	if (cfg->slot_page[0] < cfg->slot_page[1] + cfg->slot_pages &&
	    cfg->slot_page[1] < cfg->slot_page[0] + cfg->slot_pages)
		return TFA_ERR_GEOMETRY;
	return 0;
}

/* Writes len bytes from buf at off, the last partial align unit padded with erased bytes. */
static int
write_padded(const struct tfa_port *p, uint32_t off, const uint8_t *buf, uint32_t len)
{
	uint32_t al = p->flash.align, body = len - len % al;
	uint8_t tail[64];

	if (body > 0 && p->flash_write(p->ctx, off, buf, body) != 0)
		return TFA_ERR_FLASH;
	if (body < len) {
		memset(tail, p->flash.erased, al);
		memcpy(tail, buf + body, len - body);
		if (p->flash_write(p->ctx, off + body, tail, al) != 0)
			return TFA_ERR_FLASH;
	}
	return 0;
}

int
tfa__meta_load(struct tfa_ota *o)
{
	const struct tfa_port *p = o->port;
	uint32_t best_seq = 0;
	int best = -1;

	for (unsigned c = 0; c < 2; c++) {
		uint32_t off = (o->cfg.meta_page + c) * p->flash.page_size, magic, seq, crc;
		if (p->flash_read(p->ctx, off, o->page, sizeof(o->meta)) != 0)
			return TFA_ERR_FLASH;
		memcpy(&magic, o->page + offsetof(struct tfa_ota_meta, magic), 4);
		memcpy(&seq, o->page + offsetof(struct tfa_ota_meta, seq), 4);
		memcpy(&crc, o->page + offsetof(struct tfa_ota_meta, crc), 4);
		if (magic != META_MAGIC || crc != meta_crc(o->page))
			continue;
		if (best < 0 || (int32_t)(seq - best_seq) > 0) {
			best = (int)c;
			best_seq = seq;
			memcpy(&o->meta, o->page, sizeof(o->meta));
		}
	}
	if (best < 0)
		return TFA_ERR_NO_MODEL;
	o->meta_copy = (unsigned)best;
	return 0;
}

int
tfa__meta_store(struct tfa_ota *o)
{
	const struct tfa_port *p = o->port;
	unsigned c = o->meta_copy ^ 1u;
	uint32_t page = o->cfg.meta_page + c;

	o->meta.magic = META_MAGIC;
	o->meta.seq++;
	o->meta.crc = meta_crc((const uint8_t *)&o->meta);
	if (p->flash_erase(p->ctx, page) != 0)
		return TFA_ERR_FLASH;
	if (write_padded(p, page * p->flash.page_size, (const uint8_t *)&o->meta,
	                 (uint32_t)sizeof(o->meta)) != 0)
		return TFA_ERR_FLASH;
	o->meta_copy = c;
	return 0;
}

/* Erases and writes page `idx` of slot `slot` from o->page. */
static int
flush_page(struct tfa_ota *o, unsigned slot, uint32_t idx)
{
	const struct tfa_port *p = o->port;
	uint32_t page = o->cfg.slot_page[slot] + idx;

	if (idx >= o->cfg.slot_pages)
		return TFA_ERR_FLASH;
	if (p->flash_erase(p->ctx, page) != 0 ||
	    p->flash_write(p->ctx, page * p->flash.page_size, o->page, p->flash.page_size) != 0)
		return TFA_ERR_FLASH;
	return 0;
}

void
tfa__wr_start(struct tfa_ota *o, uint32_t off)
{
	o->wr_off = off;
	o->pb_fill = 0;
	o->wr_failed = false;
	o->wr_overflow = false;
}

int
tfa__wr_write(void *user, uint32_t off, const uint8_t *buf, uint32_t len)
{
	struct tfa_ota *o = user;
	uint32_t ps = o->port->flash.page_size;

	if (off != o->wr_off || len > o->image_size || off > o->image_size - len) {
		o->wr_overflow = true;
		return -1;
	}
	while (len > 0) {
		uint32_t n = ps - o->pb_fill;
		if (n > len)
			n = len;
		memcpy(o->page + o->pb_fill, buf, n);
		o->pb_fill += n;
		o->wr_off += n;
		buf += n;
		len -= n;
		if (o->pb_fill == ps) {
			if (flush_page(o, o->meta.job.slot, (o->wr_off - 1) / ps) != 0) {
				o->wr_failed = true;
				return -1;
			}
			o->pb_fill = 0;
		}
	}
	return 0;
}

int
tfa__wr_finish(struct tfa_ota *o)
{
	uint32_t ps = o->port->flash.page_size;

	if (o->pb_fill == 0)
		return 0;
	memset(o->page + o->pb_fill, o->port->flash.erased, ps - o->pb_fill);
	if (flush_page(o, o->meta.job.slot, (o->wr_off - 1) / ps) != 0) {
		o->wr_failed = true;
		return TFA_ERR_FLASH;
	}
	o->pb_fill = 0;
	return 0;
}

int
tfa__read_old(void *user, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct tfa_ota *o = user;
	const struct tfa_port *p = o->port;

	return p->flash_read(p->ctx, tfa__slot_base(o, o->meta.active) + off, buf, len);
}

int
tfa__slot_digest(struct tfa_ota *o, unsigned slot, uint32_t len, uint8_t out[TFP_DIGEST_LEN])
{
	const struct tfa_port *p = o->port;
	mbedtls_sha256_context sha;
	uint32_t base = tfa__slot_base(o, slot), done = 0;
	int rc = TFA_ERR_FLASH;

	if (len > tfa__slot_bytes(o))
		return TFA_ERR_FLASH;
	mbedtls_sha256_init(&sha);
	if (mbedtls_sha256_starts_ret(&sha, 0) != 0)
		goto out;
	while (done < len) {
		uint32_t n = len - done;
		if (n > TFA_OTA_PAGE_MAX)
			n = TFA_OTA_PAGE_MAX;
		if (p->flash_read(p->ctx, base + done, o->page, n) != 0)
			goto out;
		if (mbedtls_sha256_update_ret(&sha, o->page, n) != 0)
			goto out;
		done += n;
	}
	if (mbedtls_sha256_finish_ret(&sha, out) != 0)
		goto out;
	rc = 0;
out:
	mbedtls_sha256_free(&sha);
	return rc;
}

/* True when the slot holds the image its metadata describes and it opens as a container. */
bool
tfa__slot_valid(struct tfa_ota *o, unsigned slot, struct tfa_model *m)
{
	const struct tfa_ota_slot *s = &o->meta.slot[slot];
	uint8_t d[TFP_DIGEST_LEN];
	const uint8_t *img;

	if (s->state == TFP_SLOT_EMPTY || s->size == 0 || s->size > tfa__slot_bytes(o))
		return false;
	if (tfa__slot_digest(o, slot, s->size, d) != 0 || memcmp(d, s->digest, sizeof(d)) != 0)
		return false;
	img = o->port->flash_map(o->port->ctx, tfa__slot_base(o, slot), s->size);
	if (img == NULL)
		return false;
	return tfa_model_open(m, img, s->size) == 0;
}

int
tfa_ota_provision(struct tfa_ota *o, const struct tfa_port *port,
                  const struct tfa_ota_config *cfg, const uint8_t *img, uint32_t len,
                  uint64_t sequence, const char *name, const char *version)
{
	struct tfa_ota_slot *s;
	int rc;

	if (o == NULL || port == NULL || cfg == NULL || img == NULL || len == 0 || name == NULL ||
	    version == NULL || strlen(name) > TFP_MODEL_NAME_MAX ||
	    strlen(version) > TFP_VERSION_MAX)
		return TFP_ERR_ARG;
	if ((rc = tfa__check_geometry(port, cfg)) != 0)
		return rc;
	memset(o, 0, sizeof(*o));
	o->port = port;
	o->cfg = *cfg;
	if (len > tfa__slot_bytes(o))
		return TFA_ERR_GEOMETRY;
	if (port->flash_erase(port->ctx, cfg->meta_page) != 0 ||
	    port->flash_erase(port->ctx, cfg->meta_page + 1) != 0)
		return TFA_ERR_FLASH;
	o->image_size = len;
	o->meta.job.slot = 0;
	tfa__wr_start(o, 0);
	if (tfa__wr_write(o, 0, img, len) != 0 || tfa__wr_finish(o) != 0)
		return TFA_ERR_FLASH;
	s = &o->meta.slot[0];
	s->sequence = sequence;
	s->size = len;
	s->state = TFP_SLOT_CONFIRMED;
	if ((rc = tfa__slot_digest(o, 0, len, s->digest)) != 0)
		return rc;
	memcpy(s->name, name, strlen(name) + 1);
	memcpy(s->version, version, strlen(version) + 1);
	o->meta.floor = sequence;
	o->meta.active = 0;
	tfa_settings_default(&o->meta.settings);
	o->meta_copy = 1;                     /* so the store writes copy 0 */
	if ((rc = tfa__meta_store(o)) != 0)
		return rc;
	if (port->counter_raise(port->ctx, TFA_COUNTER_FLOOR, sequence) != 0)
		return TFA_ERR_COUNTER;
	return 0;
}
