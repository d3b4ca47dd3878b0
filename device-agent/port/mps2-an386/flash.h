/*
 * Flash of the mps2-an386 board port: the linker script's SLOTS region (2 MB of QEMU SSRAM
 * at 0x00200000) with NOR-flash rules enforced in code, as the HAL contract
 * (tinyfleet/agent/port.h on the OTA branch) states them:
 *   - TFA_BOARD_FLASH_PAGES pages of TFA_BOARD_FLASH_PAGE bytes; an erase sets a whole page
 *     to 0xFF;
 *   - a write needs offset and length that are multiples of TFA_BOARD_FLASH_ALIGN, and every
 *     byte it programs must be erased before (no second write over programmed bytes);
 *   - reads take any offset and length; map returns a pointer for in-place reads (weights
 *     are read from it), valid until the next write or erase of that range.
 * The signatures are those of struct tfa_port's flash members, so the OTA port fills
 * them in directly; ctx is unused. Errors: -1 (the core reports any as TFA_ERR_FLASH).
 * Threads: none; thread mode only. The region is RAM under QEMU, so nothing survives a
 * QEMU restart: tfa_board_flash_init() erases it all (as a new device).
 */
#ifndef TINYFLEET_PORT_MPS2_AN386_FLASH_H
#define TINYFLEET_PORT_MPS2_AN386_FLASH_H

#include <stddef.h>
#include <stdint.h>

#define TFA_BOARD_FLASH_PAGE 2048u      /* as STM32L4 (the OTA core buffers <= 2 KB pages) */
#define TFA_BOARD_FLASH_PAGES 128u     /* 256 KB: metadata and two 64 KB model slots */
#define TFA_BOARD_FLASH_ALIGN 8u
#define TFA_BOARD_FLASH_ERASED 0xFFu

/* Operations since tfa_board_flash_init (for tests and for counting wear). */
struct tfa_board_flash_stats {
	uint32_t reads, writes, erases, refused;
};

void tfa_board_flash_init(void);
int tfa_board_flash_read(void *ctx, uint32_t off, void *buf, uint32_t len);
int tfa_board_flash_write(void *ctx, uint32_t off, const void *buf, uint32_t len);
int tfa_board_flash_erase(void *ctx, uint32_t page);
const uint8_t *tfa_board_flash_map(void *ctx, uint32_t off, uint32_t len);
void tfa_board_flash_stats(struct tfa_board_flash_stats *st);

#endif
