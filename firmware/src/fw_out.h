/*
 * Line output shared by the firmware images and their host twins: the same formatting
 * code on both sides, so their outputs can be compared as text. No printf: newlib-nano's
 * float printf alone is ~10 KB of flash. fw_write() is the platform's byte sink (the board
 * port's semihosting on the target, stdout on the host).
 */
#ifndef TINYFLEET_FW_OUT_H
#define TINYFLEET_FW_OUT_H

#include <stddef.h>
#include <stdint.h>

void fw_write(const char *s, size_t len);

void fw_str(const char *s);
void fw_u64(uint64_t v);
void fw_i32(int32_t v);
/* Fixed-point decimal with `decimals` digits (0..6), rounded half away from zero; "nan"
 * for NaN and "inf" for values whose scaled magnitude reaches 4e9 (and infinities). */
void fw_fix(float v, unsigned decimals);
/* "name=value " pairs and a check line ("ok NAME" / "FAIL NAME"); fw_check returns cond. */
void fw_kv_u(const char *name, uint64_t v);
int fw_check(int cond, const char *name);

/* Failed checks since the start (fw_check). */
extern unsigned fw_failures;

#endif
