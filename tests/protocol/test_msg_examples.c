/*
 * The committed CBOR examples in schemas/examples/msg-*.hex: each one must be exactly what
 * our encoder writes for the sample message, decode with our decoder, and re-encode byte
 * for byte. tests/protocol/check_msg_cbor.py decodes the same files with Python's cbor2
 * and checks them against schemas/device-plane.cddl.
 *
 * Regenerating (after a deliberate wire change): run this binary with TFP_WRITE_EXAMPLES=1
 * (it rewrites the hex files and the fuzz seed corpora), then
 * `check_msg_cbor.py --write schemas/examples` to refresh the diagnostic notation; or run
 * tests/protocol/regen-msg-examples.sh, which does both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg_testutil.h"

/* Encodes the sample or, given a message, decodes and re-encodes it. */
typedef int (*example_fn)(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                          size_t *len);

static int
state_ex(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, size_t *len)
{
	struct tfp_state s;
	int rc;
	if (in == NULL)
		mt_sample_state(&s);
	else if ((rc = tfp_state_decode(in, in_len, &s)) != 0)
		return rc;
	return tfp_state_encode(&s, out, cap, len);
}

static int
command_ex(struct tfp_command *c, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
           size_t *len)
{
	int rc;
	if (in != NULL && (rc = tfp_command_decode(in, in_len, c)) != 0)
		return rc;
	return tfp_command_encode(c, out, cap, len);
}

#define COMMAND_EX(name, init)                                                         \
	static int name(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,     \
	                size_t *len)                                                    \
	{                                                                               \
		struct tfp_command c;                                                   \
		init;                                                                   \
		return command_ex(&c, in, in_len, out, cap, len);                       \
	}
COMMAND_EX(update_full_ex, mt_sample_update(&c, TFP_FETCH_FULL))
COMMAND_EX(update_delta_ex, mt_sample_update(&c, TFP_FETCH_DELTA))
COMMAND_EX(rollback_ex, mt_sample_rollback(&c))
COMMAND_EX(config_ex, mt_sample_config(&c))

static int
chunk_request_ex(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, size_t *len)
{
	struct tfp_chunk_request q;
	int rc;
	mt_sample_chunk_request(&q);
	if (in != NULL && (rc = tfp_chunk_request_decode(in, in_len, &q)) != 0)
		return rc;
	return tfp_chunk_request_encode(&q, out, cap, len);
}

static int
chunk_response_ex(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, size_t *len)
{
	struct tfp_chunk_response p;
	int rc;
	mt_sample_chunk_response(&p);
	if (in != NULL && (rc = tfp_chunk_response_decode(in, in_len, &p)) != 0)
		return rc;
	return tfp_chunk_response_encode(&p, out, cap, len);
}

#define REPORT_EX(name, init)                                                          \
	static int name(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,     \
	                size_t *len)                                                    \
	{                                                                               \
		struct tfp_report r;                                                    \
		int rc;                                                                 \
		init;                                                                   \
		if (in != NULL && (rc = tfp_report_decode(in, in_len, &r)) != 0)        \
			return rc;                                                      \
		return tfp_report_encode(&r, out, cap, len);                            \
	}
REPORT_EX(progress_ex, mt_sample_progress(&r))
REPORT_EX(result_ok_ex, mt_sample_result_ok(&r))
REPORT_EX(result_refused_ex, mt_sample_result_fail(&r))

static const struct example {
	const char *name;      /* schemas/examples/msg-<name>.hex */
	const char *corpus;    /* tests/fuzz/corpus/msg_<corpus>/ */
	const char *what;
	example_fn fn;
} examples[] = {
	{ "state", "state", "hello/state: slot A confirmed and active, slot B empty", state_ex },
	{ "update-full", "command", "update offer, full image", update_full_ex },
	{ "update-delta", "command", "update offer, delta from the image in slot A",
	  update_delta_ex },
	{ "rollback", "command", "rollback to the previous slot", rollback_ex },
	{ "config", "command", "config with every setting", config_ex },
	{ "chunk-request", "chunk", "chunk request: 1024 bytes at 1024", chunk_request_ex },
	{ "chunk-response", "chunk", "chunk response: the last 32 bytes of the delta",
	  chunk_response_ex },
	{ "progress", "report", "progress: fetch 1024 of 1877 bytes", progress_ex },
	{ "result-ok", "report", "result: update confirmed", result_ok_ex },
	{ "result-refused", "report", "result: refused, bad signature", result_refused_ex },
};

static void
example_path(char *buf, size_t cap, const char *name)
{
	int n = snprintf(buf, cap, "%s/schemas/examples/msg-%s.hex", TF_SOURCE_DIR, name);
	assert_true(n > 0 && (size_t)n < cap);
}

static void
write_example(const struct example *ex, const uint8_t *msg, size_t len)
{
	char path[1024];
	FILE *f;

	example_path(path, sizeof(path), ex->name);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "# %s\n# Written by tests/protocol/test_msg_examples.c "
	        "(TFP_WRITE_EXAMPLES=1).\n", ex->what);
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x%s", msg[i], (i % 32 == 31 || i + 1 == len) ? "\n" : "");
	assert_int_equal(fclose(f), 0);

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/msg_%s/%s.cbor", TF_SOURCE_DIR,
	         ex->corpus, ex->name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(msg, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
test_examples(void **state)
{
	static char text[1 << 16];
	static uint8_t want[MT_BUF], file[MT_BUF], again[MT_BUF];
	const char *write = getenv("TFP_WRITE_EXAMPLES");
	(void)state;

	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		const struct example *ex = &examples[i];
		char path[1024];
		size_t want_len, again_len;
		long file_len;

		assert_int_equal(ex->fn(NULL, 0, want, sizeof(want), &want_len), 0);
		if (write != NULL && strcmp(write, "1") == 0)
			write_example(ex, want, want_len);

		example_path(path, sizeof(path), ex->name);
		if (mt_read_file(path, text, sizeof(text)) < 0)
			fail_msg("cannot read %s", path);
		file_len = mt_hex_parse(text, file, sizeof(file));
		if (file_len < 0)
			fail_msg("%s: not hex", path);
		/* What is committed is what we write... */
		assert_int_equal((size_t)file_len, want_len);
		assert_memory_equal(file, want, want_len);
		/* ...and it decodes and re-encodes byte for byte. */
		assert_int_equal(ex->fn(file, (size_t)file_len, again, sizeof(again), &again_len), 0);
		assert_int_equal(again_len, (size_t)file_len);
		assert_memory_equal(again, file, again_len);
		printf("msg-%s: %zu bytes ok\n", ex->name, want_len);
	}
}

/*
 * The same messages as another CBOR library writes them (check_msg_cbor.py --emit: keys
 * in another order, floats as doubles): our decoders accept them and re-encode them to the
 * committed deterministic bytes. Runs when TFP_FOREIGN_DIR names the emitted files (the
 * CTest protocol_msg_from_cbor2 sets it up); skipped otherwise.
 */
static void
test_foreign_encodings(void **state)
{
	static char text[1 << 16];
	static uint8_t want[MT_BUF], foreign[MT_BUF], again[MT_BUF];
	const char *dir = getenv("TFP_FOREIGN_DIR");
	(void)state;

	if (dir == NULL) {
		skip();
		return;
	}
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		const struct example *ex = &examples[i];
		char path[1024];
		long want_len, n;
		size_t again_len;
		FILE *f;

		example_path(path, sizeof(path), ex->name);
		assert_true(mt_read_file(path, text, sizeof(text)) >= 0);
		assert_true((want_len = mt_hex_parse(text, want, sizeof(want))) > 0);
		n = snprintf(path, sizeof(path), "%s/msg-%s.cbor", dir, ex->name);
		assert_true(n > 0 && (size_t)n < sizeof(path));
		if ((f = fopen(path, "rb")) == NULL)
			fail_msg("cannot read %s", path);
		n = (long)fread(foreign, 1, sizeof(foreign), f);
		fclose(f);
		assert_int_equal(ex->fn(foreign, (size_t)n, again, sizeof(again), &again_len), 0);
		assert_int_equal(again_len, (size_t)want_len);
		assert_memory_equal(again, want, again_len);
		printf("msg-%s: cbor2 form (%ld bytes) decodes to the committed %ld bytes\n",
		       ex->name, n, want_len);
	}
}

/* Each decoder refuses the examples of the others with the message-type error. */
static void
test_examples_refused_by_other_decoders(void **state)
{
	static uint8_t want[MT_BUF];
	(void)state;

	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		const struct example *ex = &examples[i];
		struct tfp_state s;
		struct tfp_command c;
		struct tfp_chunk_request q;
		struct tfp_chunk_response p;
		struct tfp_report r;
		size_t n;

		assert_int_equal(ex->fn(NULL, 0, want, sizeof(want), &n), 0);
		if (strcmp(ex->corpus, "state") != 0)
			assert_int_equal(tfp_state_decode(want, n, &s), TFP_ERR_UNKNOWN_MESSAGE);
		if (strcmp(ex->corpus, "command") != 0)
			assert_int_equal(tfp_command_decode(want, n, &c), TFP_ERR_UNKNOWN_MESSAGE);
		if (strcmp(ex->name, "chunk-request") != 0)
			assert_int_equal(tfp_chunk_request_decode(want, n, &q),
			                 TFP_ERR_UNKNOWN_MESSAGE);
		if (strcmp(ex->name, "chunk-response") != 0)
			assert_int_equal(tfp_chunk_response_decode(want, n, &p),
			                 TFP_ERR_UNKNOWN_MESSAGE);
		if (strcmp(ex->corpus, "report") != 0)
			assert_int_equal(tfp_report_decode(want, n, &r), TFP_ERR_UNKNOWN_MESSAGE);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_examples_refused_by_other_decoders),
		cmocka_unit_test(test_foreign_encodings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
