/*
 * mps2-an386 board port: reset handler and vector table, semihosting output and exit,
 * SysTick tick counter, stack painting. See board.h.
 */
#include "board.h"

#include <stdint.h>
#include <string.h>

/* Linker script symbols. */
extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[];

int main(void);
void tfa_board_reset(void) __attribute__((noreturn));
void tfa_board_fault(void) __attribute__((noreturn));
void tfa_board_systick(void);

#define STACK_PATTERN 0xC5C5C5C5u
#define PAINT_MARGIN 64u          /* bytes below the painting frame left alone */
#define SYSCLK_HZ 25000000u       /* QEMU's mps2-an385/an386 SYSCLK */

/* System control registers (Armv7-M ARM, B3.2). */
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu

/* Semihosting operations (Arm "Semihosting for AArch32 and AArch64", 2.0). */
#define SYS_OPEN 0x01
#define SYS_WRITE 0x05
#define OPEN_MODE_W 4             /* "w" */
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static volatile uint32_t systick_wraps;
static int console = -1;          /* semihosting handle of ":tt" opened for writing */

static int
semihost(int op, const void *arg)
{
	register int r0 __asm__("r0") = op;
	register const void *r1 __asm__("r1") = arg;

	__asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
	return r0;
}

void
tfa_board_write(const char *s, size_t len)
{
	/* Handle 1 is not open on QEMU: the console is the special file ":tt". */
	static const char tt[] = ":tt";
	uint32_t open_args[3] = {(uint32_t)(uintptr_t)tt, OPEN_MODE_W, sizeof(tt) - 1};
	uint32_t args[3];

	if (console < 0)
		console = semihost(SYS_OPEN, open_args);
	if (len == 0 || console < 0)
		return;
	args[0] = (uint32_t)console;
	args[1] = (uint32_t)(uintptr_t)s;
	args[2] = (uint32_t)len;
	(void)semihost(SYS_WRITE, args);
}

void
tfa_board_exit(int code)
{
	uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};

	for (;;)
		(void)semihost(SYS_EXIT_EXTENDED, args);
}

void
tfa_board_fault(void)
{
	static const char msg[] = "board: fault\n";

	tfa_board_write(msg, sizeof(msg) - 1);
	tfa_board_exit(99);
}

void
tfa_board_systick(void)
{
	systick_wraps++;
}

uint64_t
tfa_board_ticks(void)
{
	uint32_t hi, v;

	/* A wrap between the two reads would pair the new count with the old wraps. */
	do {
		hi = systick_wraps;
		v = SYST_CVR;
	} while (hi != systick_wraps);
	return ((uint64_t)hi << 24) + (SYST_RELOAD - v);
}

uint32_t
tfa_board_tick_hz(void)
{
	return SYSCLK_HZ;
}

static inline uint8_t *
current_sp(void)
{
	uint8_t *sp;

	__asm__ volatile("mov %0, sp" : "=r"(sp));
	return sp;
}

static void
paint_below(uint8_t *limit)
{
	for (uint32_t *p = __stack_bottom; (uint8_t *)p < limit; p++)
		*p = STACK_PATTERN;
}

void
tfa_board_stack_paint(void)
{
	paint_below(current_sp() - PAINT_MARGIN);
}

size_t
tfa_board_stack_peak(void)
{
	const uint32_t *p = __stack_bottom;

	while (p < __stack_top && *p == STACK_PATTERN)
		p++;
	return (size_t)((const uint8_t *)__stack_top - (const uint8_t *)p);
}

size_t
tfa_board_stack_size(void)
{
	return (size_t)((const uint8_t *)__stack_top - (const uint8_t *)__stack_bottom);
}

void
tfa_board_reset(void)
{
	/* The FPU is off at reset; the hard-float ABI uses it from the first function on. */
	SCB_CPACR |= 0xFu << 20;
	__asm__ volatile("dsb\n\tisb" ::: "memory");
	memcpy(__data_start, __data_load, (size_t)((uint8_t *)__data_end - (uint8_t *)__data_start));
	memset(__bss_start, 0, (size_t)((uint8_t *)__bss_end - (uint8_t *)__bss_start));
	paint_below(current_sp() - PAINT_MARGIN);
	SYST_RVR = SYST_RELOAD;
	SYST_CVR = 0;
	SYST_CSR = 0x7u;          /* processor clock, interrupt on wrap, enable */
	tfa_board_exit(main());
}

/* Vector table: initial stack pointer, reset, then the exceptions we handle. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
	(void (*)(void))(uintptr_t)__stack_top,
	tfa_board_reset,
	tfa_board_fault,          /* NMI */
	tfa_board_fault,          /* HardFault */
	tfa_board_fault,          /* MemManage */
	tfa_board_fault,          /* BusFault */
	tfa_board_fault,          /* UsageFault */
	0, 0, 0, 0,
	tfa_board_fault,          /* SVCall */
	tfa_board_fault,          /* DebugMonitor */
	0,
	tfa_board_fault,          /* PendSV */
	tfa_board_systick,
};
