/* port/posix (contract: tinyfleet/port/posix.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE   /* MAP_ANONYMOUS */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tinyfleet/port/posix.h"
#include "tinyfleet/protocol/error.h"

static uint64_t
rnd(struct tfa_posix *px)
{
	/* xorshift64* */
	uint64_t x = px->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	px->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Counts an operation; returns 1 when this one is cut, -1 when power is already off. */
static int
op_begin(struct tfa_posix *px)
{
	if (px->dead)
		return -1;
	px->ops++;
	if (px->cut_at != 0 && px->ops == px->cut_at) {
		px->dead = true;
		return 1;
	}
	return 0;
}

static int
ctr_save(struct tfa_posix *px)
{
	FILE *f;
	int rc = TFA_ERR_COUNTER;

	if (px->ctr_path[0] == '\0')
		return 0;
	if ((f = fopen(px->ctr_path, "w")) == NULL)
		return rc;
	for (unsigned i = 0; i < TFA_COUNTERS; i++)
		fprintf(f, "%llu\n", (unsigned long long)px->counters[i]);
	if (fflush(f) == 0 && fsync(fileno(f)) == 0)
		rc = 0;
	fclose(f);
	return rc;
}

static void
ctr_load(struct tfa_posix *px)
{
	FILE *f = fopen(px->ctr_path, "r");
	char line[32];

	if (f == NULL)
		return;
	for (unsigned i = 0; i < TFA_COUNTERS && fgets(line, sizeof(line), f) != NULL; i++)
		px->counters[i] = strtoull(line, NULL, 10);
	fclose(f);
}

static int
px_read(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	struct tfa_posix *px = ctx;

	if ((uint64_t)off + len > px->size)
		return TFA_ERR_FLASH;
	px->reads++;
	memcpy(buf, px->mem + off, len);
	return 0;
}

static int
px_write(void *ctx, uint32_t off, const void *buf, uint32_t len)
{
	struct tfa_posix *px = ctx;
	const uint8_t *b = buf;
	int cut;

	if ((uint64_t)off + len > px->size || off % px->geom.align != 0 ||
	    len % px->geom.align != 0) {
		px->violations++;
		return TFA_ERR_FLASH;
	}
	for (uint32_t i = 0; i < len; i++) {
		if (px->mem[off + i] != px->geom.erased) {
			px->violations++;
			return TFA_ERR_FLASH;
		}
	}
	if ((cut = op_begin(px)) < 0)
		return TFA_ERR_FLASH;
	px->writes++;
	if (cut) {
		uint32_t k = len > 0 ? (uint32_t)(rnd(px) % (len + 1)) : 0;
		memcpy(px->mem + off, b, k);
		if (k < len)
			px->mem[off + k] = (uint8_t)(b[k] & (uint8_t)rnd(px));
		return TFA_ERR_FLASH;
	}
	memcpy(px->mem + off, b, len);
	return 0;
}

/* Already erased: leave it alone (no write, so an untouched page stays untouched). */
static bool
page_erased(const struct tfa_posix *px, uint32_t page)
{
	const uint8_t *p = px->mem + (size_t)page * px->geom.page_size;

	for (uint32_t i = 0; i < px->geom.page_size; i++)
		if (p[i] != px->geom.erased)
			return false;
	return true;
}

static int
px_erase(void *ctx, uint32_t page)
{
	struct tfa_posix *px = ctx;
	uint32_t ps = px->geom.page_size;
	int cut;

	if (page >= px->geom.pages) {
		px->violations++;
		return TFA_ERR_FLASH;
	}
	if ((cut = op_begin(px)) < 0)
		return TFA_ERR_FLASH;
	px->erases++;
	if (cut) {
		uint32_t k = (uint32_t)(rnd(px) % (ps + 1));
		memset(px->mem + (size_t)page * ps, px->geom.erased, k);
		if (k < ps)
			px->mem[(size_t)page * ps + k] = (uint8_t)rnd(px);
		return TFA_ERR_FLASH;
	}
	if (!page_erased(px, page))
		memset(px->mem + (size_t)page * ps, px->geom.erased, ps);
	return 0;
}

static const uint8_t *
px_map(void *ctx, uint32_t off, uint32_t len)
{
	struct tfa_posix *px = ctx;

	if ((uint64_t)off + len > px->size)
		return NULL;
	return px->mem + off;
}

static int
px_counter_read(void *ctx, unsigned idx, uint64_t *v)
{
	struct tfa_posix *px = ctx;

	if (idx >= TFA_COUNTERS)
		return TFA_ERR_COUNTER;
	*v = px->counters[idx];
	return 0;
}

static int
px_counter_raise(void *ctx, unsigned idx, uint64_t v)
{
	struct tfa_posix *px = ctx;
	int cut;

	if (idx >= TFA_COUNTERS)
		return TFA_ERR_COUNTER;
	if ((cut = op_begin(px)) < 0)
		return TFA_ERR_COUNTER;
	if (cut && (rnd(px) & 1u) == 0)
		return TFA_ERR_COUNTER;            /* lost: the old value stays */
	if (v > px->counters[idx]) {
		px->counters[idx] = v;
		if (ctr_save(px) != 0)
			return TFA_ERR_COUNTER;
	}
	return cut ? TFA_ERR_COUNTER : 0;
}

uint64_t
tfa_posix_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t
px_clock_ms(void *ctx)
{
	struct tfa_posix *px = ctx;

	return px->sim_clock ? px->now_ms : tfa_posix_mono_ms();
}

static uint64_t
px_time_unix(void *ctx)
{
	struct tfa_posix *px = ctx;

	if (px->sim_clock)
		return px->now_unix;
	return (uint64_t)time(NULL);
}

static int
px_rng(void *ctx, void *buf, size_t len)
{
	struct tfa_posix *px = ctx;
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(rnd(px) >> 32);
	return 0;
}

static int
px_send(void *ctx, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	struct tfa_posix *px = ctx;

	if (px->send == NULL)
		return TFA_ERR_OFFLINE;
	return px->send(px->user, ch, buf, len);
}

static int
px_recv(void *ctx, enum tfa_chan *ch, uint8_t *buf, size_t cap, size_t *len)
{
	struct tfa_posix *px = ctx;

	if (px->recv == NULL)
		return 0;
	return px->recv(px->user, ch, buf, cap, len);
}

int
tfa_posix_open(struct tfa_posix *px, const char *path, const struct tfa_flash_geom *geom,
               uint64_t seed)
{
	struct stat st;
	size_t size;
	int rc = TFA_ERR_FLASH;

	if (px == NULL || geom == NULL || geom->page_size == 0 || geom->pages == 0 ||
	    geom->align == 0)
		return TFP_ERR_ARG;
	memset(px, 0, sizeof(*px));
	px->fd = -1;
	px->geom = *geom;
	px->rng = seed != 0 ? seed : 0x9E3779B97F4A7C15ULL;
	size = (size_t)geom->page_size * geom->pages;
	px->size = size;
	if (path == NULL && geom->erased == 0) {
		/* Anonymous memory reads as zeros and takes RAM only where written: an erased
		 * 0x00 flash costs nothing until it is programmed (the simulator's thousands of
		 * devices keep mostly empty slots). */
		px->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		               -1, 0);
		if (px->mem == MAP_FAILED) {
			px->mem = NULL;
			return TFA_ERR_FLASH;
		}
		px->anon = true;
		return 0;
	}
	if (path == NULL) {
		if ((px->mem = malloc(size)) == NULL)
			return TFA_ERR_FLASH;
		memset(px->mem, geom->erased, size);
		return 0;
	}
	if (strlen(path) + 5 > sizeof(px->ctr_path))
		return TFP_ERR_ARG;
	snprintf(px->ctr_path, sizeof(px->ctr_path), "%s.ctr", path);
	if ((px->fd = open(path, O_RDWR | O_CREAT, 0600)) < 0)
		goto fail;
	if (fstat(px->fd, &st) != 0)
		goto fail;
	if (st.st_size != 0 && (size_t)st.st_size != size) {
		rc = TFA_ERR_GEOMETRY;
		goto fail;
	}
	if (st.st_size == 0) {
		uint8_t page[4096];
		memset(page, geom->erased, sizeof(page));
		for (size_t done = 0; done < size;) {
			size_t n = size - done < sizeof(page) ? size - done : sizeof(page);
			if (write(px->fd, page, n) != (ssize_t)n)
				goto fail;
			done += n;
		}
	}
	px->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, px->fd, 0);
	if (px->mem == MAP_FAILED) {
		px->mem = NULL;
		goto fail;
	}
	ctr_load(px);
	return 0;
fail:
	if (px->fd >= 0)
		close(px->fd);
	px->fd = -1;
	return rc;
}

void
tfa_posix_close(struct tfa_posix *px)
{
	if (px == NULL || px->mem == NULL)
		return;
	if (px->fd >= 0) {
		msync(px->mem, px->size, MS_SYNC);
		munmap(px->mem, px->size);
		close(px->fd);
	} else if (px->anon) {
		munmap(px->mem, px->size);
	} else {
		free(px->mem);
	}
	px->mem = NULL;
	px->fd = -1;
}

void
tfa_posix_port(struct tfa_posix *px, struct tfa_port *p)
{
	memset(p, 0, sizeof(*p));
	p->ctx = px;
	p->flash = px->geom;
	p->flash_read = px_read;
	p->flash_write = px_write;
	p->flash_erase = px_erase;
	p->flash_map = px_map;
	p->counter_read = px_counter_read;
	p->counter_raise = px_counter_raise;
	p->clock_ms = px_clock_ms;
	p->time_unix = px_time_unix;
	p->rng = px_rng;
	p->send = px_send;
	p->recv = px_recv;
}

void
tfa_posix_power_on(struct tfa_posix *px)
{
	px->dead = false;
	px->cut_at = 0;
}

size_t
tfa_posix_image_size(const struct tfa_posix *px)
{
	return px->size;
}

void
tfa_posix_save(const struct tfa_posix *px, uint8_t *img, uint64_t *counters)
{
	memcpy(img, px->mem, px->size);
	memcpy(counters, px->counters, sizeof(px->counters));
}

void
tfa_posix_load(struct tfa_posix *px, const uint8_t *img, const uint64_t *counters)
{
	memcpy(px->mem, img, px->size);
	memcpy(px->counters, counters, sizeof(px->counters));
}
