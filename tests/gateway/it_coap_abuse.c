/*
 * The CoAP/DTLS endpoint under abuse stays bounded and keeps serving a legitimate device:
 *
 *  - thousands of half-open DTLS handshakes (it_coap_flood.py: ClientHello, cookie, second
 *    ClientHello, silence, each from a new port) never hold more than coap.max_handshakes
 *    sessions plus coap.max_sessions idle ones, are all freed after coap.session_timeout,
 *    and a device with a certificate (Debian's coap-client) fetches its model meanwhile
 *    (trying a handshake again when the flood pushed it out, as a device does: allowed
 *    for at most one fetch in ten);
 *  - stalled block-wise transfers (devices that took block 0 of an object and went quiet,
 *    made here with libcoap's client API) are held at most coap.max_sessions at a time
 *    and freed after the idle timeout;
 *  - a device over coap.device_rate gets 4.29 for the excess requests;
 *  - a device that observes cmd again from a new session (it rebooted) replaces its old
 *    session, which an observation would otherwise hold forever.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <coap3/coap.h>

#include "it_coap_util.h"

#define MAX_HANDSHAKES 32
#define MAX_IDLE 16
#define IDLE_TIMEOUT_S 3
#define FLOOD 2000
#define STALLED 24

static int
setup(void **state)
{
	static struct coap_fixture f;
	struct gw_coap_config cfg = { 0 };

	cfg.max_handshakes = MAX_HANDSHAKES;
	cfg.max_sessions = MAX_IDLE;
	cfg.session_timeout_s = IDLE_TIMEOUT_S;
	cf_devices = STALLED;   /* one device per stalled transfer */
	cf_start(&f, &cfg);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	cf_stop(*state);
	return 0;
}

/* A device fetches the whole object with coap-client; 1 when the bytes are right. */
static int
legit_fetch(struct coap_fixture *f, const char *name)
{
	static uint8_t buf[CF_BLOB_LEN + 1];
	char cmd[1024], args[512], out[128];
	FILE *fp;
	size_t n;

	snprintf(out, sizeof(out), "%s/%s", f->dir, name);
	snprintf(args, sizeof(args), "-m get -b 1024 -o %s coaps://127.0.0.1:%d/obj/%s", out,
	         f->port, f->hex);
	cf_client(f, "dev-0001", args, cmd, sizeof(cmd));
	if (cf_run(f, cmd, 30000) != 0 || (fp = fopen(out, "rb")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	return n == CF_BLOB_LEN && memcmp(buf, f->blob, n) == 0;
}

/* As a device does: a handshake the flood pushed out is tried again (up to 3 times).
 * Counts the failed attempts in *failed. */
static int
legit_fetch_retrying(struct coap_fixture *f, const char *name, int *failed)
{
	for (int i = 0; i < 3; i++) {
		if (legit_fetch(f, name))
			return 1;
		(*failed)++;
	}
	return 0;
}

static void
wait_all_freed(struct coap_fixture *f)
{
	uint64_t end = cf_now_ms() + (IDLE_TIMEOUT_S + 12) * 1000u;

	while (gw_coap_sessions(&f->coap) > 0 && cf_now_ms() < end)
		cf_turn(f);
	assert_int_equal(gw_coap_sessions(&f->coap), 0);
}

static void
test_half_open_handshakes_evicted(void **state)
{
	struct coap_fixture *f = *state;
	char cmd[512];
	uint64_t new0 = f->coap.stats.sessions_new;
	int fetched = 0, failed = 0, st;
	pid_t flood;

	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/gateway/it_coap_flood.py 127.0.0.1 "
	         "%d %d", TF_SOURCE_DIR, f->port, FLOOD);
	f->max_live = 0;
	flood = cf_spawn(cmd);
	/* The device keeps fetching while the flood runs. */
	while (waitpid(flood, &st, WNOHANG) == 0) {
		assert_true(legit_fetch_retrying(f, "during-flood.out", &failed));
		fetched++;
	}
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);   /* it did leave half-open ones */
	assert_true(fetched >= 1);
	print_message("flood: %llu sessions created, at most %u held at once, %d fetches served "
	              "during it (%d attempts pushed out and retried)\n",
	              (unsigned long long)(f->coap.stats.sessions_new - new0), f->max_live,
	              fetched, failed);
	/* A retry now and then, not a denial of service. */
	assert_true(failed * 10 <= fetched);
	/* Most of the flood got as far as a session: the limits, not luck, bounded them. */
	assert_true(f->coap.stats.sessions_new - new0 >= FLOOD / 2);
	assert_true(f->max_live <= MAX_HANDSHAKES + MAX_IDLE + 2);
	wait_all_freed(f);
	assert_true(legit_fetch(f, "after-flood.out"));
}

/* A libcoap DTLS client session to the fixture's endpoint, with the certificate of
 * dev-<n> (fleet CA). */
static coap_session_t *
dev_session(const struct coap_fixture *f, coap_context_t *ctx, int n)
{
	static char ca[128], crt[128], key[128];
	coap_dtls_pki_t pki;
	coap_session_t *sess;
	coap_address_t dst;

	snprintf(ca, sizeof(ca), "%s/ca.crt", f->pki);
	snprintf(crt, sizeof(crt), "%s/devices/dev-%04d.crt", f->pki, n);
	snprintf(key, sizeof(key), "%s/devices/dev-%04d.key", f->pki, n);
	coap_address_init(&dst);
	dst.addr.sin.sin_family = AF_INET;
	dst.addr.sin.sin_port = htons((uint16_t)f->port);
	dst.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.size = sizeof(dst.addr.sin);
	memset(&pki, 0, sizeof(pki));
	pki.version = COAP_DTLS_PKI_SETUP_VERSION;
	pki.verify_peer_cert = 1;
	pki.check_common_ca = 1;
	pki.pki_key.key_type = COAP_PKI_KEY_PEM;
	pki.pki_key.key.pem.ca_file = ca;
	pki.pki_key.key.pem.public_cert = crt;
	pki.pki_key.key.pem.private_key = key;
	sess = coap_new_client_session_pki(ctx, NULL, &dst, COAP_PROTO_DTLS, &pki);
	assert_non_null(sess);
	return sess;
}

static coap_response_t
on_block(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcvd,
         const coap_mid_t mid)
{
	int *got = coap_session_get_app_data(s);
	coap_block_t b;

	(void)sent;
	(void)mid;
	if (got != NULL && coap_pdu_get_code(rcvd) == COAP_RESPONSE_CODE_CONTENT &&
	    coap_get_block(rcvd, COAP_OPTION_BLOCK2, &b) && b.num == 0 && b.m)
		*got = 1;
	return COAP_RESPONSE_OK;
}

static void
test_stalled_blockwise_transfers_evicted(void **state)
{
	struct coap_fixture *f = *state;
	static int got[STALLED];
	coap_session_t *sess[STALLED];
	coap_context_t *ctx;
	uint64_t end;
	int all = 0;

	f->max_live = 0;

	ctx = coap_new_context(NULL);
	assert_non_null(ctx);
	coap_register_response_handler(ctx, on_block);
	for (int i = 0; i < STALLED; i++) {
		coap_pdu_t *pdu;
		uint8_t opt[4], tok[8];
		size_t toklen;

		/* Each stalled transfer is another device (dev-0001 ... dev-0024). */
		sess[i] = dev_session(f, ctx, i + 1);
		coap_session_set_app_data(sess[i], &got[i]);
		pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, sess[i]);
		assert_non_null(pdu);
		coap_session_new_token(sess[i], &toklen, tok);
		coap_add_token(pdu, toklen, tok);
		coap_add_option(pdu, COAP_OPTION_URI_PATH, 3, (const uint8_t *)"obj");
		coap_add_option(pdu, COAP_OPTION_URI_PATH, 64, (const uint8_t *)f->hex);
		coap_add_option(pdu, COAP_OPTION_BLOCK2,
		                coap_encode_var_safe(opt, sizeof(opt), 6), opt);   /* num 0, 1024 */
		assert_true(coap_send(sess[i], pdu) != COAP_INVALID_MID);
		/* It gets block 0 ... */
		end = cf_now_ms() + 10000;
		while (!got[i] && cf_now_ms() < end) {
			coap_io_process(ctx, COAP_IO_NO_WAIT);
			cf_turn(f);
		}
		assert_true(got[i]);
		all++;
	}
	/* ... and never asks for block 1. libcoap trims idle sessions as new peers arrive
	 * (least recently used first): however many transfers stall, the gateway holds about
	 * MAX_IDLE of them, and the next device is served. */
	print_message("stalled: %d transfers, at most %u sessions held at once, %u now\n", all,
	              f->max_live, gw_coap_sessions(&f->coap));
	assert_int_equal(all, STALLED);
	assert_true(f->max_live <= MAX_IDLE + 2);
	assert_true(legit_fetch(f, "during-stall.out"));
	/* The rest go by the idle timeout, however long the transfer was meant to last. */
	wait_all_freed(f);
	for (int i = 0; i < STALLED; i++)
		coap_session_release(sess[i]);
	coap_free_context(ctx);
}

static int ok_count, limited_count;

static coap_response_t
on_rated(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcvd,
         const coap_mid_t mid)
{
	(void)s;
	(void)sent;
	(void)mid;
	if (coap_pdu_get_code(rcvd) == COAP_RESPONSE_CODE_CONTENT)
		ok_count++;
	else if (coap_pdu_get_code(rcvd) == COAP_RESPONSE_CODE(429))
		limited_count++;
	return COAP_RESPONSE_OK;
}

static void
test_device_rate_limit(void **state)
{
	struct coap_fixture *f = *state;
	coap_session_t *sess;
	coap_context_t *ctx;
	uint64_t end, limited0 = f->coap.stats.rate_limited;
	unsigned saved = f->coap.cfg.device_rate;

	/* 10 requests/s per device (one second of burst); the device asks for 40 blocks at
	 * once. */
	f->coap.cfg.device_rate = 10;
	ctx = coap_new_context(NULL);
	assert_non_null(ctx);
	coap_register_response_handler(ctx, on_rated);
	sess = dev_session(f, ctx, 2);
	ok_count = limited_count = 0;
	for (unsigned i = 0; i < 40; i++) {
		coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, sess);
		uint8_t opt[4], tok[8];
		size_t toklen;
		assert_non_null(pdu);
		coap_session_new_token(sess, &toklen, tok);
		coap_add_token(pdu, toklen, tok);
		coap_add_option(pdu, COAP_OPTION_URI_PATH, 3, (const uint8_t *)"obj");
		coap_add_option(pdu, COAP_OPTION_URI_PATH, 64, (const uint8_t *)f->hex);
		coap_add_option(pdu, COAP_OPTION_BLOCK2,
		                coap_encode_var_safe(opt, sizeof(opt), (i % 48) << 4 | 6), opt);
		assert_true(coap_send(sess, pdu) != COAP_INVALID_MID);
	}
	end = cf_now_ms() + 15000;
	while (ok_count + limited_count < 40 && cf_now_ms() < end) {
		coap_io_process(ctx, COAP_IO_NO_WAIT);
		cf_turn(f);
	}
	print_message("rate: %d answered 2.05, %d answered 4.29\n", ok_count, limited_count);
	assert_int_equal(ok_count + limited_count, 40);
	/* The burst (10) plus what refills while the 40 go by; the rest is refused. */
	assert_true(ok_count >= 10 && ok_count <= 20);
	assert_int_equal(f->coap.stats.rate_limited - limited0, (uint64_t)limited_count);
	coap_session_release(sess);
	coap_free_context(ctx);
	f->coap.cfg.device_rate = saved;
}

/* One libcoap client session with dev-0002's certificate that observes dev-0002/cmd;
 * *got counts the commands (notifications with a payload) it receives. */
static coap_session_t *
observer(struct coap_fixture *f, coap_context_t *ctx, int *got)
{
	coap_session_t *sess = dev_session(f, ctx, 2);
	coap_pdu_t *pdu;
	uint8_t tok[8], v[1];
	size_t toklen;

	coap_session_set_app_data(sess, got);
	pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, sess);
	assert_non_null(pdu);
	coap_session_new_token(sess, &toklen, tok);
	coap_add_token(pdu, toklen, tok);
	coap_add_option(pdu, COAP_OPTION_OBSERVE,
	                coap_encode_var_safe(v, sizeof(v), COAP_OBSERVE_ESTABLISH), v);
	coap_add_option(pdu, COAP_OPTION_URI_PATH, 3, (const uint8_t *)"dev");
	coap_add_option(pdu, COAP_OPTION_URI_PATH, 8, (const uint8_t *)"dev-0002");
	coap_add_option(pdu, COAP_OPTION_URI_PATH, 3, (const uint8_t *)"cmd");
	assert_true(coap_send(sess, pdu) != COAP_INVALID_MID);
	return sess;
}

static coap_response_t
on_cmd(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcvd, const coap_mid_t mid)
{
	int *got = coap_session_get_app_data(s);
	const uint8_t *data;
	size_t n;

	(void)sent;
	(void)mid;
	if (got != NULL && coap_get_data(rcvd, &n, &data) && n > 0)
		(*got)++;
	return COAP_RESPONSE_OK;
}

static void
test_reobserve_replaces_old_session(void **state)
{
	struct coap_fixture *f = *state;
	static const uint8_t command[] = { 0x82, 0x04, 0x18, 0x2a };
	coap_context_t *ctx_a, *ctx_b;
	coap_session_t *a, *b;
	uint64_t replaced0 = f->coap.stats.sessions_replaced, end;
	uint64_t ok0 = f->coap.stats.handshakes_ok;
	int got_a = 0, got_b = 0;

	wait_all_freed(f);
	/* The device observes cmd, then "reboots": a new session observes again while the
	 * old one goes silent (never closed). */
	ctx_a = coap_new_context(NULL);
	ctx_b = coap_new_context(NULL);
	assert_true(ctx_a != NULL && ctx_b != NULL);
	coap_register_response_handler(ctx_a, on_cmd);
	coap_register_response_handler(ctx_b, on_cmd);
	a = observer(f, ctx_a, &got_a);
	end = cf_now_ms() + 5000;
	while (f->coap.stats.handshakes_ok == ok0 && cf_now_ms() < end) {
		coap_io_process(ctx_a, COAP_IO_NO_WAIT);
		cf_turn(f);
	}
	assert_int_equal(f->coap.stats.handshakes_ok, ok0 + 1);
	for (int i = 0; i < 100; i++) {   /* the observation registers */
		coap_io_process(ctx_a, COAP_IO_NO_WAIT);
		cf_turn(f);
	}
	b = observer(f, ctx_b, &got_b);
	end = cf_now_ms() + 5000;
	while (f->coap.stats.sessions_replaced == replaced0 && cf_now_ms() < end) {
		coap_io_process(ctx_b, COAP_IO_NO_WAIT);
		cf_turn(f);
	}
	assert_int_equal(f->coap.stats.sessions_replaced - replaced0, 1);
	/* The old session, no longer held by its observation, goes with the idle timeout;
	 * the new one stays (its observation holds it) and carries the next command. */
	end = cf_now_ms() + (IDLE_TIMEOUT_S + 5) * 1000u;
	while (gw_coap_sessions(&f->coap) > 1 && cf_now_ms() < end) {
		coap_io_process(ctx_b, COAP_IO_NO_WAIT);
		cf_turn(f);
	}
	assert_int_equal(gw_coap_sessions(&f->coap), 1);
	assert_int_equal(gw_coap_send_command(&f->coap, "dev-0002", command, sizeof(command)), 0);
	end = cf_now_ms() + 5000;
	while (got_b == 0 && cf_now_ms() < end) {
		coap_io_process(ctx_b, COAP_IO_NO_WAIT);
		cf_turn(f);
	}
	assert_int_equal(got_b, 1);
	assert_int_equal(got_a, 0);
	coap_session_release(a);
	coap_session_release(b);
	coap_free_context(ctx_a);
	coap_free_context(ctx_b);
	cf_pump(f, 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_half_open_handshakes_evicted),
		cmocka_unit_test(test_stalled_blockwise_transfers_evicted),
		cmocka_unit_test(test_device_rate_limit),
		cmocka_unit_test(test_reobserve_replaces_old_session),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
