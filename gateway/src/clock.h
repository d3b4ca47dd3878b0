/*
 * clock: wall-clock time for what people read (audit entries, events, last seen). Loop
 * timers use libuv's monotonic clock instead; this one may jump.
 */
#ifndef GW_CLOCK_H
#define GW_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t gw_wall_ms(void);
/* RFC 3339 UTC with whole seconds ("2026-11-24T10:01:30Z") of a wall-clock time in ms. */
void gw_format_time(uint64_t ms, char out[21]);

#endif
