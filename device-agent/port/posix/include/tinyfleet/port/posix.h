/*
 * port/posix: the agent's HAL (tinyfleet/agent/port.h) on a host.
 *
 * Flash is a byte image with flash semantics: erase works on whole pages and sets them to
 * the erased value; a write must be aligned and may only program erased bytes (anything
 * else is refused and counted in `violations`, a bug in the core). The image lives in a
 * file mapped with mmap (persistent across runs: the agent's "flash chip"), or in memory
 * when no path is given (tests). An in-memory flash whose erased value is 0x00 is anonymous
 * memory that takes RAM only for the pages programmed (the simulator uses that), and an
 * erase of a page that is already erased writes nothing.
 *
 * Instrumentation in the style of MCUboot's simulator: every write, erase and counter raise
 * is an operation with a number (ops, counted from 1). With cut_at = N the N-th operation
 * "loses power": a write programs only a random prefix of its bytes plus one garbage byte,
 * an erase erases a random prefix of its page and scrambles one byte, a counter raise
 * happens or not at random; then every further operation fails (`dead`) until
 * tfa_posix_power_on() simulates the restart. Reads keep working (the test inspects the
 * flash after a cut).
 *
 * Counters live in memory or, with a flash file, in "<path>.ctr" (written through).
 * Clock: a simulated clock (sim_clock = true, advanced by the caller through now_ms) or
 * CLOCK_MONOTONIC; wall time likewise (now_unix or time()). RNG: xorshift64* seeded by the
 * caller (tests are reproducible; not a cryptographic RNG: the core uses it for jitter only).
 * Transport: the caller's send/recv hooks (a scripted peer in tests, MQTT in the agent).
 *
 * Memory: tfa_posix_open allocates the image (host only); tfa_posix_close frees it and is
 * safe on a zeroed struct. Threads: one thread per struct.
 */
#ifndef TINYFLEET_PORT_POSIX_H
#define TINYFLEET_PORT_POSIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/agent/port.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*tfa_posix_send_fn)(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len);
typedef int (*tfa_posix_recv_fn)(void *user, enum tfa_chan *ch, uint8_t *buf, size_t cap,
                                 size_t *len);

struct tfa_posix {
	struct tfa_flash_geom geom;
	uint8_t *mem;
	size_t size;
	int fd;                       /* -1 without a file */
	bool anon;                    /* in memory, erased 0x00: anonymous mmap (lazy RAM) */
	char ctr_path[256];           /* "" without a file */
	uint64_t counters[TFA_COUNTERS];
	/* instrumentation */
	uint64_t ops;                 /* writes + erases + counter raises since open */
	uint64_t cut_at;              /* 0: never */
	bool dead;
	uint64_t violations;          /* writes over programmed bytes, misaligned ops */
	uint64_t reads, writes, erases;
	uint64_t rng;
	/* clock */
	bool sim_clock;
	uint64_t now_ms;
	uint64_t now_unix;
	/* transport */
	tfa_posix_send_fn send;
	tfa_posix_recv_fn recv;
	void *user;
};

/*
 * Opens a flash of geom->pages pages: path NULL keeps it in memory (all erased), else the
 * file is created (erased) or reused when its size matches. Returns 0, TFP_ERR_ARG,
 * TFA_ERR_FLASH (I/O, with errno set) or TFA_ERR_GEOMETRY (existing file of another size).
 */
int tfa_posix_open(struct tfa_posix *px, const char *path, const struct tfa_flash_geom *geom,
                   uint64_t seed);
void tfa_posix_close(struct tfa_posix *px);

/* Fills *port with px's functions (ctx = px). */
void tfa_posix_port(struct tfa_posix *px, struct tfa_port *port);

/* Power comes back: clears `dead` and cut_at. */
void tfa_posix_power_on(struct tfa_posix *px);

/* Copies the flash image and counters out / back (tests take snapshots). */
size_t tfa_posix_image_size(const struct tfa_posix *px);
void tfa_posix_save(const struct tfa_posix *px, uint8_t *img, uint64_t *counters);
void tfa_posix_load(struct tfa_posix *px, const uint8_t *img, const uint64_t *counters);

/* The host's monotonic clock in milliseconds (the port's real clock, and the host
 * programs' timers). */
uint64_t tfa_posix_mono_ms(void);

#ifdef __cplusplus
}
#endif

#endif
