/*
 * The CoAP/DTLS device endpoint against a CoAP client nobody here wrote: Debian's
 * coap-client (libcoap3-bin, OpenSSL) with device certificates from deploy/pki.sh.
 *
 *  - fetches a stored model blob block-wise (Block2, 1024-byte blocks), SHA-256 matches;
 *    resumes from a middle block;
 *  - is refused without a certificate, with a certificate of another CA, and for another
 *    device's path;
 *  - POSTs telemetry (SenML-CBOR) that reaches the device-message entry point; bad
 *    payloads and content formats get 4.00 / 4.15;
 *  - observes dev/<id>/cmd and receives a command sent by gw_coap_send_command while it
 *    waits (no polling);
 *  - with a pre-shared key configured for a device (coap.psk_file), fetches with it, and is
 *    refused with a wrong key or another identity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "it_coap_util.h"

static int
setup(void **state)
{
	static struct coap_fixture f;
	cf_start(&f, NULL);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	cf_stop(*state);
	return 0;
}

static size_t
file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static int
file_sha256_is(const char *path, const uint8_t want[32])
{
	static uint8_t buf[CF_BLOB_LEN + 1];
	uint8_t got[32];
	FILE *fp = fopen(path, "rb");
	size_t n;

	if (fp == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	mbedtls_sha256_ret(buf, n, got, 0);
	return memcmp(got, want, 32) == 0;
}

static void
test_blob_blockwise_sha256_matches(void **state)
{
	struct coap_fixture *f = *state;
	char cmd[1024], args[512], out[128];
	uint64_t blocks0 = f->coap.stats.blocks;

	snprintf(out, sizeof(out), "%s/blob.out", f->dir);
	snprintf(args, sizeof(args), "-m get -b 1024 -o %s coaps://127.0.0.1:%d/obj/%s", out,
	         f->port, f->hex);
	cf_client(f, "dev-0001", args, cmd, sizeof(cmd));
	assert_int_equal(cf_run(f, cmd, 20000), 0);
	assert_int_equal(file_size(out), CF_BLOB_LEN);
	assert_true(file_sha256_is(out, f->digest));
	/* 49 blocks of 1024 bytes: the client went block by block. */
	assert_int_equal(f->coap.stats.blocks - blocks0, (CF_BLOB_LEN + 1023) / 1024);
}

static void
test_blob_resumes_from_a_block(void **state)
{
	struct coap_fixture *f = *state;
	char cmd[1024], args[512], out[128];
	uint64_t blocks0 = f->coap.stats.blocks;
	static uint8_t buf[CF_BLOB_LEN];
	size_t got = 40 * 1024;
	FILE *fp;

	/* A device that lost power after block 39 asks for block 40, 41, ... each in a new
	 * DTLS session (as after a reboot): the bytes continue where they stopped. */
	snprintf(out, sizeof(out), "%s/block.out", f->dir);
	for (unsigned num = 40; got < CF_BLOB_LEN; num++) {
		size_t n;
		snprintf(args, sizeof(args), "-m get -b %u,1024 -o %s coaps://127.0.0.1:%d/obj/%s",
		         num, out, f->port, f->hex);
		cf_client(f, "dev-0002", args, cmd, sizeof(cmd));
		assert_int_equal(cf_run(f, cmd, 20000), 0);
		fp = fopen(out, "rb");
		assert_non_null(fp);
		n = fread(buf + got, 1, sizeof(buf) - got, fp);
		fclose(fp);
		assert_int_equal(n, CF_BLOB_LEN - got < 1024 ? CF_BLOB_LEN - got : 1024);
		assert_memory_equal(buf + got, f->blob + got, n);
		got += n;
	}
	assert_int_equal(f->coap.stats.blocks - blocks0, 9);
}

/* Fetching the object as `who` (cf_client; `flags` go first) must be refused at the
 * handshake: nothing written to `name`, no block served, no handshake completed. */
static void
assert_fetch_refused(struct coap_fixture *f, const char *who, const char *flags,
                     const char *name)
{
	char cmd[1024], args[512], out[128];
	uint64_t blocks0 = f->coap.stats.blocks, ok0 = f->coap.stats.handshakes_ok;

	snprintf(out, sizeof(out), "%s/%s", f->dir, name);
	snprintf(args, sizeof(args), "%s-m get -b 1024 -o %s coaps://127.0.0.1:%d/obj/%s", flags,
	         out, f->port, f->hex);
	cf_client(f, who, args, cmd, sizeof(cmd));
	(void)cf_run(f, cmd, 20000);
	assert_int_equal(file_size(out), 0);
	assert_int_equal(f->coap.stats.blocks, blocks0);
	assert_int_equal(f->coap.stats.handshakes_ok, ok0);
}

static void
test_refused_without_certificate(void **state)
{
	assert_fetch_refused(*state, "", "", "nocert.out");
}

static void
test_refused_with_foreign_ca(void **state)
{
	/* Same CN (dev-0001), another CA. -n: the client does not judge the server, so the
	 * refusal is the gateway's. */
	assert_fetch_refused(*state, "other:dev-0001", "-n ", "foreign.out");
}

static void
test_refused_for_another_devices_path(void **state)
{
	struct coap_fixture *f = *state;
	char cmd[1024], args[512], log[128], grep[256];
	uint64_t forbidden0 = f->coap.stats.forbidden;
	int msgs0 = f->msgs;

	snprintf(log, sizeof(log), "%s/other-path.log", f->dir);
	snprintf(args, sizeof(args), "-m post -t 60 -e x coaps://127.0.0.1:%d/dev/dev-0002/state "
	         ">%s 2>&1", f->port, log);
	cf_client(f, "dev-0001", args, cmd, sizeof(cmd));
	(void)cf_run(f, cmd, 20000);
	snprintf(grep, sizeof(grep), "grep -q '4.03' %s", log);
	assert_int_equal(cf_sh(grep), 0);
	snprintf(args, sizeof(args), "-m get coaps://127.0.0.1:%d/dev/dev-0002/cmd >%s 2>&1",
	         f->port, log);
	cf_client(f, "dev-0001", args, cmd, sizeof(cmd));
	(void)cf_run(f, cmd, 20000);
	assert_int_equal(cf_sh(grep), 0);
	assert_int_equal(f->coap.stats.forbidden - forbidden0, 2);
	assert_int_equal(f->msgs, msgs0);
}

static void
test_post_telemetry_and_bad_requests(void **state)
{
	struct coap_fixture *f = *state;
	char cmd[1024], args[512], tel[128], log[128], grep[256];
	struct tfp_telemetry t;
	struct tfp_telem_enc_info info;
	uint8_t buf[512];
	int msgs0 = f->msgs;

	tfp_telemetry_init(&t);
	snprintf(t.device_id, sizeof(t.device_id), "dev-0001");
	snprintf(t.model, sizeof(t.model), "pump-anomaly");
	snprintf(t.version, sizeof(t.version), "1.0.0");
	t.samples = 50;
	t.labelled = 10;
	t.loss = 0.25f;
	t.accuracy = 0.9f;
	t.conf_mean = 0.8f;
	assert_int_equal(tfp_telemetry_encode(&t, buf, sizeof(buf), &info), 0);
	snprintf(tel, sizeof(tel), "%s/tel.cbor", f->dir);
	tu_write_file(tel, buf, info.len);
	snprintf(log, sizeof(log), "%s/post.log", f->dir);

	/* SenML-CBOR (112) telemetry on its own path: accepted (2.04, no output). */
	snprintf(args, sizeof(args), "-m post -t 112 -f %s coaps://127.0.0.1:%d/dev/dev-0001/"
	         "telemetry >%s 2>&1", tel, f->port, log);
	cf_client(f, "dev-0001", args, cmd, sizeof(cmd));
	assert_int_equal(cf_run(f, cmd, 20000), 0);
	assert_int_equal(f->msgs, msgs0 + 1);
	assert_string_equal(f->last_id, "dev-0001");
	assert_string_equal(f->last_kind, "telemetry");
	assert_int_equal(f->last_len, info.len);

	/* Garbage: the decoder refuses it, 4.00 with a reason. */
	snprintf(args, sizeof(args), "-m post -t 112 -e garbage coaps://127.0.0.1:%d/dev/"
	         "dev-0001/telemetry >%s 2>&1", f->port, log);
	cf_client(f, "dev-0001", args, cmd, sizeof(cmd));
	(void)cf_run(f, cmd, 20000);
	snprintf(grep, sizeof(grep), "grep -q '4.00' %s", log);
	assert_int_equal(cf_sh(grep), 0);

	/* text/plain telemetry: 4.15. */
	snprintf(args, sizeof(args), "-m post -t 0 -f %s coaps://127.0.0.1:%d/dev/dev-0001/"
	         "telemetry >%s 2>&1", tel, f->port, log);
	cf_client(f, "dev-0001", args, cmd, sizeof(cmd));
	(void)cf_run(f, cmd, 20000);
	snprintf(grep, sizeof(grep), "grep -q '4.15' %s", log);
	assert_int_equal(cf_sh(grep), 0);

	/* An unknown object: 4.04. */
	snprintf(args, sizeof(args), "-m get coaps://127.0.0.1:%d/obj/%064d >%s 2>&1", f->port, 0,
	         log);
	cf_client(f, "dev-0001", args, cmd, sizeof(cmd));
	(void)cf_run(f, cmd, 20000);
	snprintf(grep, sizeof(grep), "grep -q '4.04' %s", log);
	assert_int_equal(cf_sh(grep), 0);
	assert_int_equal(f->msgs, msgs0 + 1);
}

static void
test_observe_delivers_command(void **state)
{
	struct coap_fixture *f = *state;
	char cmd[1024], args[512], out[128];
	static const uint8_t command[] = { 0xa2, 0x00, 0x04, 0x01, 0x19, 0x30, 0x39 };
	uint64_t sent0 = f->coap.stats.commands_sent;
	uint8_t got[64];
	pid_t pid;
	FILE *fp;
	size_t n;
	int st, sent = 0;
	uint64_t t0;

	snprintf(out, sizeof(out), "%s/cmd.out", f->dir);
	snprintf(args, sizeof(args), "-m get -s 4 -o %s coaps://127.0.0.1:%d/dev/dev-0001/cmd",
	         out, f->port);
	cf_client(f, "dev-0001", args, cmd, sizeof(cmd));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* One second into the observation, the gateway has something to say. */
	t0 = cf_now_ms();
	while (waitpid(pid, &st, WNOHANG) == 0) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		tu_sleep_ms(1);
		if (!sent && cf_now_ms() - t0 > 1000) {
			assert_int_equal(gw_coap_send_command(&f->coap, "dev-0001", command,
			                                      sizeof(command)),
			                 0);
			sent = 1;
		}
		if (cf_now_ms() - t0 > 20000) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("coap-client did not end");
		}
	}
	assert_int_equal(f->coap.stats.commands_sent - sent0, 1);
	fp = fopen(out, "rb");
	assert_non_null(fp);
	n = fread(got, 1, sizeof(got), fp);
	fclose(fp);
	/* The first answer was empty (nothing queued); the notification carried the command. */
	assert_int_equal(n, sizeof(command));
	assert_memory_equal(got, command, sizeof(command));
	assert_true(gw_coap_is_home(&f->coap, "dev-0001"));
	assert_int_equal(gw_coap_send_command(&f->coap, "dev-0099", command, sizeof(command)),
	                 -ENOENT);
}

static void
test_psk_identity(void **state)
{
	struct coap_fixture *f = *state;
	char cmd[1024], out[128];
	uint64_t blocks0 = f->coap.stats.blocks;

	/* The configured identity and key fetch the object ... */
	snprintf(out, sizeof(out), "%s/psk.out", f->dir);
	snprintf(cmd, sizeof(cmd), "coap-client-openssl -B 5 -u dev-0002 -k secret -m get -b 1024 "
	         "-o %s coaps://127.0.0.1:%d/obj/%s", out, f->port, f->hex);
	assert_int_equal(cf_run(f, cmd, 20000), 0);
	assert_int_equal(file_size(out), CF_BLOB_LEN);
	assert_true(file_sha256_is(out, f->digest));
	/* ... a wrong key or an unknown identity do not. */
	snprintf(out, sizeof(out), "%s/psk-bad.out", f->dir);
	snprintf(cmd, sizeof(cmd), "coap-client-openssl -B 5 -u dev-0002 -k wrong -m get "
	         "-o %s coaps://127.0.0.1:%d/obj/%s; coap-client-openssl -B 5 -u dev-0001 -k secret "
	         "-m get -o %s coaps://127.0.0.1:%d/obj/%s", out, f->port, f->hex, out, f->port,
	         f->hex);
	(void)cf_run(f, cmd, 20000);
	assert_int_equal(file_size(out), 0);
	assert_int_equal(f->coap.stats.blocks - blocks0, (CF_BLOB_LEN + 1023) / 1024);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blob_blockwise_sha256_matches),
		cmocka_unit_test(test_blob_resumes_from_a_block),
		cmocka_unit_test(test_refused_without_certificate),
		cmocka_unit_test(test_refused_with_foreign_ca),
		cmocka_unit_test(test_refused_for_another_devices_path),
		cmocka_unit_test(test_post_telemetry_and_bad_requests),
		cmocka_unit_test(test_observe_delivers_command),
		cmocka_unit_test(test_psk_identity),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
