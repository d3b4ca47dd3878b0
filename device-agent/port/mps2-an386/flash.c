/* Flash emulation of the mps2-an386 board port over the SLOTS region; see flash.h. */
#include "flash.h"

#include <string.h>

#define FLASH_BYTES (TFA_BOARD_FLASH_PAGE * TFA_BOARD_FLASH_PAGES)

/* The host twin and host tests have no SLOTS region: there the array is ordinary .bss. */
#ifdef __arm__
__attribute__((section(".slots")))
#endif
static uint8_t flash[FLASH_BYTES] __attribute__((aligned(TFA_BOARD_FLASH_PAGE)));
static struct tfa_board_flash_stats stats;

static int
in_range(uint32_t off, uint32_t len)
{
	return off <= FLASH_BYTES && len <= FLASH_BYTES - off;
}

void
tfa_board_flash_init(void)
{
	memset(flash, TFA_BOARD_FLASH_ERASED, sizeof(flash));
	memset(&stats, 0, sizeof(stats));
}

int
tfa_board_flash_read(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	(void)ctx;
	if (!in_range(off, len) || (buf == NULL && len > 0)) {
		stats.refused++;
		return -1;
	}
	memcpy(buf, flash + off, len);
	stats.reads++;
	return 0;
}

int
tfa_board_flash_write(void *ctx, uint32_t off, const void *buf, uint32_t len)
{
	(void)ctx;
	if (!in_range(off, len) || (buf == NULL && len > 0) || off % TFA_BOARD_FLASH_ALIGN != 0 ||
	    len % TFA_BOARD_FLASH_ALIGN != 0) {
		stats.refused++;
		return -1;
	}
	/* Programming can only clear bits once: every target byte must still be erased. */
	for (uint32_t i = 0; i < len; i++)
		if (flash[off + i] != TFA_BOARD_FLASH_ERASED) {
			stats.refused++;
			return -1;
		}
	memcpy(flash + off, buf, len);
	stats.writes++;
	return 0;
}

int
tfa_board_flash_erase(void *ctx, uint32_t page)
{
	(void)ctx;
	if (page >= TFA_BOARD_FLASH_PAGES) {
		stats.refused++;
		return -1;
	}
	memset(flash + (size_t)page * TFA_BOARD_FLASH_PAGE, TFA_BOARD_FLASH_ERASED,
	       TFA_BOARD_FLASH_PAGE);
	stats.erases++;
	return 0;
}

const uint8_t *
tfa_board_flash_map(void *ctx, uint32_t off, uint32_t len)
{
	(void)ctx;
	return in_range(off, len) ? flash + off : NULL;
}

void
tfa_board_flash_stats(struct tfa_board_flash_stats *st)
{
	*st = stats;
}
