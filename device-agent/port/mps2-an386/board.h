/*
 * The mps2-an386 board port (QEMU's Cortex-M4 board): what firmware images use besides the
 * portable core. Output and the exit status go through Arm semihosting, so QEMU must run
 * with `-semihosting`; a firmware's exit status becomes QEMU's.
 *
 * Threads: none; call from thread mode only (the SysTick handler touches only the tick
 * counter). Nothing here allocates.
 */
#ifndef TINYFLEET_PORT_MPS2_AN386_BOARD_H
#define TINYFLEET_PORT_MPS2_AN386_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Writes len bytes to the host's stdout (semihosting SYS_WRITE on handle 1). */
void tfa_board_write(const char *s, size_t len);

/* Ends the program: QEMU exits with status code (SYS_EXIT_EXTENDED,
 * ADP_Stopped_ApplicationExit). Never returns. */
void tfa_board_exit(int code) __attribute__((noreturn));

/*
 * Tick counter: SysTick on the processor clock (25 MHz on this board), extended to 64 bits
 * by its wrap interrupt; started by the reset handler. Under `qemu -icount shift=0` one
 * instruction is one nanosecond of virtual time, so a tick is exactly
 * tfa_board_insns_per_tick() instructions, independent of the host's speed.
 */
uint64_t tfa_board_ticks(void);
uint32_t tfa_board_tick_hz(void);

/*
 * Stack painting. The reset handler fills the stack below its own frame with a pattern;
 * tfa_board_stack_paint() refills everything below the caller's frame (minus a margin)
 * so that a later tfa_board_stack_peak() reports the deepest use since then, in bytes
 * from the top of the stack. tfa_board_stack_size() is the reserved size.
 */
void tfa_board_stack_paint(void);
size_t tfa_board_stack_peak(void);
size_t tfa_board_stack_size(void);

/* Bytes of stack in use at the caller (inline, so it is the caller's own depth). A
 * function's own peak is tfa_board_stack_peak() minus the depth at its call site. */
extern uint32_t __stack_top[];
static inline size_t
tfa_board_stack_depth(void)
{
	uintptr_t sp;

	__asm__ volatile("mov %0, sp" : "=r"(sp));
	return (size_t)((uintptr_t)__stack_top - sp);
}

#endif
