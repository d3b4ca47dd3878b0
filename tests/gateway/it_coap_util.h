/*
 * Fixture for the CoAP endpoint tests (header-only; include after <cmocka.h>): the real
 * gw_coap module on its own libuv loop in this process, a real LMDB store holding one
 * object, and the project's PKI from deploy/pki.sh (plus a second, foreign CA). Peers are
 * real programs (Debian's coap-client, a python flooder) run as child processes while the
 * loop keeps turning, so the test can read the endpoint's counters directly. Binds
 * 127.0.0.1 only; every child is waited for, and killed by PID if it overstays.
 */
#ifndef IT_COAP_UTIL_H
#define IT_COAP_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>
#include <uv.h>

#include "coap.h"
#include "gw_testutil.h"
#include "log.h"
#include "store.h"
#include "tinyfleet/protocol/telemetry.h"

#define CF_BLOB_LEN 50000u   /* 49 blocks of 1024 bytes, the last one partial */

/* Device certificates in the fixture's PKI (dev-0001 ...); a test may raise it before
 * cf_start. */
static int cf_devices = 2;

struct coap_fixture {
	char dir[64];
	char pki[96], other[96];
	char listen[32];
	int port;
	uv_loop_t loop;
	struct gw_store store;
	struct gw_coap coap;
	uint8_t blob[CF_BLOB_LEN];
	uint8_t digest[32];
	char hex[65];
	/* what the endpoint handed on (as the daemon's device_message would get it) */
	int msgs;
	char last_id[65], last_kind[16];
	size_t last_len;
	unsigned max_live;   /* most server sessions seen at once while the loop turned */
};

static inline uint64_t
cf_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A UDP port on 127.0.0.1 that was free a moment ago. */
static inline int
cf_free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_DGRAM, 0), port;

	assert_true(s >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(s);
	return port;
}

/* The daemon's rule for telemetry, so refusals are the real decoder's. */
static inline int
cf_on_message(void *arg, const char *id, const char *kind, const uint8_t *p, size_t len)
{
	struct coap_fixture *f = arg;

	if (strcmp(kind, "telemetry") == 0) {
		struct tfp_telemetry t;
		if (tfp_telemetry_decode(p, len, &t) != 0)
			return -EBADMSG;
		if (strcmp(t.device_id, id) != 0)
			return -EPERM;
	}
	f->msgs++;
	snprintf(f->last_id, sizeof(f->last_id), "%s", id);
	snprintf(f->last_kind, sizeof(f->last_kind), "%s", kind);
	f->last_len = len;
	return 0;
}

static inline void
cf_turn(struct coap_fixture *f)
{
	uv_run(&f->loop, UV_RUN_NOWAIT);
	if (gw_coap_sessions(&f->coap) > f->max_live)
		f->max_live = gw_coap_sessions(&f->coap);
	tu_sleep_ms(1);
}

static inline void
cf_pump(struct coap_fixture *f, int ms)
{
	uint64_t end = cf_now_ms() + (uint64_t)ms;
	do
		cf_turn(f);
	while (cf_now_ms() < end);
}

static inline pid_t
cf_spawn(const char *cmd)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Starts `sh -c cmd` and turns the loop until it exits (killed after timeout_ms); returns
 * its exit status, or -1 if it had to be killed. */
static inline int
cf_run(struct coap_fixture *f, const char *cmd, int timeout_ms)
{
	uint64_t end = cf_now_ms() + (uint64_t)timeout_ms;
	pid_t pid = cf_spawn(cmd);
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (cf_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		cf_turn(f);
	}
}

static inline int
cf_sh(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* PKI, store with one object, endpoint listening. cfg may be NULL (defaults, no rate
 * limit). */
static inline void
cf_start(struct coap_fixture *f, const struct gw_coap_config *over)
{
	struct gw_store_config scfg = { 0 };
	struct gw_coap_config cfg = { 0 };
	char cmd[512], state[128], ca[128], crt[128], key[128], psk[128];
	struct gw_txn t;
	uint32_t x = 12345;

	memset(f, 0, sizeof(*f));
	gw_log_init(GW_LOG_WARNING);
	tu_mkdtemp(f->dir, sizeof(f->dir), "tf-coap");
	snprintf(f->pki, sizeof(f->pki), "%s/pki", f->dir);
	snprintf(f->other, sizeof(f->other), "%s/other", f->dir);
	snprintf(cmd, sizeof(cmd), "%s/deploy/pki.sh %s --devices %d >/dev/null && "
	         "%s/deploy/pki.sh %s --devices 1 >/dev/null", TF_SOURCE_DIR, f->pki,
	         cf_devices, TF_SOURCE_DIR, f->other);
	assert_int_equal(cf_sh(cmd), 0);

	for (size_t i = 0; i < sizeof(f->blob); i++) {
		x = x * 1664525u + 1013904223u;
		f->blob[i] = (uint8_t)(x >> 24);
	}
	mbedtls_sha256_ret(f->blob, sizeof(f->blob), f->digest, 0);
	for (int i = 0; i < 32; i++)
		snprintf(f->hex + 2 * i, 3, "%02x", f->digest[i]);
	snprintf(state, sizeof(state), "%s/state", f->dir);
	assert_int_equal(mkdir(state, 0700), 0);
	scfg.path = state;
	scfg.map_size = 64u << 20;
	scfg.reserve = 4u << 20;
	scfg.telemetry_keep = 10000;
	scfg.batch_max = 64;
	assert_int_equal(gw_store_open(&f->store, &scfg), 0);
	assert_int_equal(gw_store_begin(&f->store, &t), 0);
	assert_int_equal(gw_store_put_blob(&t, f->digest, f->blob, sizeof(f->blob)), 0);
	assert_int_equal(gw_store_commit(&t), 0);

	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->port = cf_free_port();
	snprintf(f->listen, sizeof(f->listen), "127.0.0.1:%d", f->port);
	if (over != NULL)
		cfg = *over;
	snprintf(ca, sizeof(ca), "%s/ca.crt", f->pki);
	snprintf(crt, sizeof(crt), "%s/gateway.crt", f->pki);
	snprintf(key, sizeof(key), "%s/gateway.key", f->pki);
	cfg.listen = f->listen;
	cfg.ca_file = ca;
	cfg.cert_file = crt;
	cfg.key_file = key;
	/* dev-0002 may also use a pre-shared key: "secret" (hex 736563726574). */
	snprintf(psk, sizeof(psk), "%s/psk", f->dir);
	{
		static const char line[] = "# device-id key\ndev-0002 736563726574\n";
		tu_write_file(psk, line, sizeof(line) - 1);
	}
	cfg.psk_file = psk;
	assert_int_equal(gw_coap_start(&f->coap, &f->loop, &f->store, &cfg, cf_on_message, f), 0);
}

static inline void
cf_stop(struct coap_fixture *f)
{
	gw_coap_close(&f->coap);
	uv_run(&f->loop, UV_RUN_DEFAULT);   /* close callbacks */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	gw_store_close(&f->store);
	tu_rmtree(f->dir);
}

/* "coap-client-openssl <identity options> <args>", identity "dev-0001" (fleet CA),
 * "other:dev-0001" (foreign CA) or "" (no certificate). */
static inline void
cf_client(const struct coap_fixture *f, const char *who, const char *args, char *out,
          size_t cap)
{
	char ident[512] = "";

	if (strncmp(who, "other:", 6) == 0)
		snprintf(ident, sizeof(ident), "-c %s/devices/%s.crt -j %s/devices/%s.key -C %s/ca.crt",
		         f->other, who + 6, f->other, who + 6, f->other);
	else if (who[0] != '\0')
		snprintf(ident, sizeof(ident), "-c %s/devices/%s.crt -j %s/devices/%s.key -C %s/ca.crt",
		         f->pki, who, f->pki, who, f->pki);
	snprintf(out, cap, "coap-client-openssl -B 5 %s %s", ident, args);
}

#endif
