/*
 * Stack budget of device-side manifest verification, measured by stack painting: the call
 * runs on a painted stack of known size (ucontext) and must stay below
 * VERIFY_STACK_BUDGET. bench/manifest measures the same with more detail. Sanitizer builds
 * skip it (their instrumentation changes frame sizes).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <cmocka.h>

#include "tinyfleet/protocol/manifest.h"

/* Host (x86-64, -O2) measured ~4.7 KB including mbedTLS; leave room for -O0 builds. */
#define VERIFY_STACK_BUDGET (12 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

static uint8_t stack[64 * 1024] __attribute__((aligned(64)));
static ucontext_t main_ctx, work_ctx;
static uint8_t msg[1024];
static size_t msg_len;
static struct tfp_cose_key key;
static int verify_rc;

static void
run_verify(void)
{
	struct tfp_manifest m;
	verify_rc = tfp_manifest_verify(msg, msg_len, &key, 1, 1000, &m);
}

static size_t
painted_use(void)
{
	size_t i;
	memset(stack, 0xa5, sizeof(stack));
	assert_int_equal(getcontext(&work_ctx), 0);
	work_ctx.uc_stack.ss_sp = stack;
	work_ctx.uc_stack.ss_size = sizeof(stack);
	work_ctx.uc_link = &main_ctx;
	makecontext(&work_ctx, run_verify, 0);
	assert_int_equal(swapcontext(&main_ctx, &work_ctx), 0);
	for (i = 0; i < sizeof(stack) && stack[i] == 0xa5; i++)
		;
	return sizeof(stack) - i;
}

static void
test_verify_stack_budget(void **state)
{
	FILE *f;
	char pem[1024];
	size_t n, used;
	(void)state;
#ifdef SANITIZED
	skip();
#endif
	f = fopen(TF_SOURCE_DIR "/tests/interop/keys/release-test.pub.pem", "r");
	assert_non_null(f);
	n = fread(pem, 1, sizeof(pem) - 1, f);
	pem[n] = '\0';
	fclose(f);
	assert_int_equal(tfp_cose_key_from_pem(pem, &key), 0);
	f = fopen(TF_SOURCE_DIR "/tests/fuzz/corpus/manifest_verify/seed-1.cose", "rb");
	assert_non_null(f);
	msg_len = fread(msg, 1, sizeof(msg), f);
	fclose(f);

	used = painted_use();
	assert_int_equal(verify_rc, 0);
	print_message("tfp_manifest_verify used %zu bytes of stack\n", used);
	assert_true(used < VERIFY_STACK_BUDGET);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify_stack_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
