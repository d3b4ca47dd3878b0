/*
 * The hardware abstraction layer (HAL) that the device-agent core calls.
 *
 * The core never includes a port: a port fills one struct tfa_port with its context and
 * function pointers and hands it to the core (tfa_ota_init). Every function gets the port's
 * ctx back as its first argument. Ports live in device-agent/port/<name>/ (posix: files and
 * sockets on the host; a board port for QEMU's Cortex-M4).
 *
 * Flash (one device, addressed by byte offset from 0):
 *   - it is made of `pages` pages of `page_size` bytes; an erase works on one whole page and
 *     sets every byte to `erased` (0xFF on NOR flash);
 *   - a write programs `len` bytes at `off`; both are multiples of `align`; every byte written
 *     must be in the erased state before (writing over a programmed byte is an error, as on
 *     flash that cannot clear bits twice or keeps ECC per word);
 *   - reads may use any offset and length;
 *   - flash_map returns a pointer through which the CPU reads flash directly (execute in
 *     place, memory-mapped flash); the inference runtime reads model weights in place
 *     through it. It stays valid until the next write or erase of that range.
 *   - power may fail in the middle of any write or erase: the bytes of that operation are
 *     then unspecified (any mix of old, new and erased values). The core is written so that
 *     such a torn operation is always detected (CRCs, digests) and never trusted.
 *   Errors: 0 or a negative code; any failure is reported as TFA_ERR_FLASH by the core.
 *
 * Persistent counters: monotonic 64-bit values that survive power loss (an MCU's OTP or
 * monotonic counter peripheral, or a journaled flash area). counter_raise(idx, v) sets the
 * counter to max(current, v) atomically: after a power loss it holds either the old value
 * or v. The OTA core uses counter TFA_COUNTER_FLOOR as its anti-rollback floor.
 *
 * Clock: clock_ms is monotonic milliseconds since an arbitrary origin (never goes back);
 * time_unix is the wall clock in seconds since the epoch, or 0 when unknown (then manifest
 * expiry cannot be checked and is not enforced).
 *
 * RNG: rng fills buf with random bytes (retry jitter); 0 or negative.
 *
 * Transport: send publishes one message on a channel (the port maps channels to MQTT topics
 * tf/<site>/dev/<id>/<channel> or CoAP resources); it returns 0, or TFA_ERR_OFFLINE when the
 * link is down (the core keeps reports queued and retries later). recv, when not NULL, is
 * polled by the core: it returns 1 and fills *ch, buf and *len with one received message,
 * or 0 when nothing is waiting (ports that push messages call tfa_ota_handle directly and
 * set recv to NULL).
 *
 * Threads: the core calls the port only from the thread that calls the core.
 */
#ifndef TINYFLEET_AGENT_PORT_H
#define TINYFLEET_AGENT_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/agent/error.h"   /* TFA_ERR_FLASH, TFA_ERR_OFFLINE, ... */

#ifdef __cplusplus
extern "C" {
#endif

/* Message channels (MQTT topic suffixes under tf/<site>/dev/<id>/). */
enum tfa_chan {
	TFA_CHAN_STATE = 0,       /* out: state (device -> gateway) */
	TFA_CHAN_CONN = 1,        /* out: conn (bare CBOR uint) */
	TFA_CHAN_TELEMETRY = 2,   /* out: telemetry */
	TFA_CHAN_REPORT = 3,      /* out: progress and result reports */
	TFA_CHAN_CHUNK_REQ = 4,   /* out: chunk requests */
	TFA_CHAN_CMD = 5,         /* in: commands */
	TFA_CHAN_CHUNK_RESP = 6,  /* in: chunk responses */
};
#define TFA_CHAN_COUNT 7

/* Persistent counters the core uses. */
#define TFA_COUNTER_FLOOR 0       /* anti-rollback floor: highest confirmed sequence */
#define TFA_COUNTERS 1

struct tfa_flash_geom {
	uint32_t page_size;       /* bytes per erase page */
	uint32_t pages;           /* pages in the device */
	uint32_t align;           /* write offset and length granularity (power of two) */
	uint8_t erased;           /* value of an erased byte */
};

struct tfa_port {
	void *ctx;
	struct tfa_flash_geom flash;
	int (*flash_read)(void *ctx, uint32_t off, void *buf, uint32_t len);
	int (*flash_write)(void *ctx, uint32_t off, const void *buf, uint32_t len);
	int (*flash_erase)(void *ctx, uint32_t page);
	const uint8_t *(*flash_map)(void *ctx, uint32_t off, uint32_t len);
	int (*counter_read)(void *ctx, unsigned idx, uint64_t *value);
	int (*counter_raise)(void *ctx, unsigned idx, uint64_t value);
	uint64_t (*clock_ms)(void *ctx);
	uint64_t (*time_unix)(void *ctx);
	int (*rng)(void *ctx, void *buf, size_t len);
	int (*send)(void *ctx, enum tfa_chan ch, const uint8_t *buf, size_t len);
	int (*recv)(void *ctx, enum tfa_chan *ch, uint8_t *buf, size_t cap, size_t *len);
};

#ifdef __cplusplus
}
#endif

#endif
