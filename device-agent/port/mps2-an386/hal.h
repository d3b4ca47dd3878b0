/*
 * The mps2-an386 board as the agent's HAL (struct tfa_port, tinyfleet/agent/port.h):
 * flash from flash.h, two persistent counters in RAM (QEMU keeps nothing across runs; a
 * device would use its OTP or a journaled flash area), the SysTick clock in milliseconds,
 * no wall clock (time_unix 0: manifest expiry is not enforced), and a xorshift RNG for
 * retry jitter. The transport (send/recv) is the firmware's: left NULL here.
 * Threads: none; thread mode only.
 */
#ifndef TINYFLEET_PORT_MPS2_AN386_HAL_H
#define TINYFLEET_PORT_MPS2_AN386_HAL_H

#include "tinyfleet/agent/port.h"

/* Fills p (ctx NULL, flash geometry and functions, counters, clock, rng). */
void tfa_board_hal(struct tfa_port *p);

#endif
