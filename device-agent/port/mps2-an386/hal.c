/* The mps2-an386 board as struct tfa_port; see hal.h. */
#include "hal.h"

#include <string.h>

#include "board.h"
#include "flash.h"

static uint64_t counters[TFA_COUNTERS];
static uint32_t rng_state = 0x6d2b79f5u;

static int
counter_read(void *ctx, unsigned idx, uint64_t *value)
{
	(void)ctx;
	if (idx >= TFA_COUNTERS)
		return TFA_ERR_COUNTER;
	*value = counters[idx];
	return 0;
}

static int
counter_raise(void *ctx, unsigned idx, uint64_t value)
{
	(void)ctx;
	if (idx >= TFA_COUNTERS)
		return TFA_ERR_COUNTER;
	if (value > counters[idx])
		counters[idx] = value;
	return 0;
}

static uint64_t
clock_ms(void *ctx)
{
	(void)ctx;
	return tfa_board_ticks() / (tfa_board_tick_hz() / 1000u);
}

static uint64_t
time_unix(void *ctx)
{
	(void)ctx;
	return 0;
}

static int
rng(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;

	(void)ctx;
	for (size_t i = 0; i < len; i++) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 17;
		rng_state ^= rng_state << 5;
		p[i] = (uint8_t)rng_state;
	}
	return 0;
}

void
tfa_board_hal(struct tfa_port *p)
{
	memset(p, 0, sizeof(*p));
	p->flash.page_size = TFA_BOARD_FLASH_PAGE;
	p->flash.pages = TFA_BOARD_FLASH_PAGES;
	p->flash.align = TFA_BOARD_FLASH_ALIGN;
	p->flash.erased = TFA_BOARD_FLASH_ERASED;
	p->flash_read = tfa_board_flash_read;
	p->flash_write = tfa_board_flash_write;
	p->flash_erase = tfa_board_flash_erase;
	p->flash_map = tfa_board_flash_map;
	p->counter_read = counter_read;
	p->counter_raise = counter_raise;
	p->clock_ms = clock_ms;
	p->time_unix = time_unix;
	p->rng = rng;
}
