/*
 * tf-durable-probe: time-to-durable of telemetry in tinyfleetd. While the load runs, it
 * publishes one unique telemetry record at a time (QoS 1, as device ID with its certificate,
 * its own client id) and watches the gateway's LMDB environment read-only (LMDB readers
 * in another process see each commit) until a committed record carries exactly those bytes;
 * the time from publish to that commit's visibility is one sample. Prints p50/p99/max.
 *
 *   tf-durable-probe --pki DIR --port P --id DEVICE --state DIR [--count N] [--gap-ms MS]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>
#include <mosquitto.h>

#include "tinyfleet/protocol/telemetry.h"

static atomic_int up;

static uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
	nanosleep(&ts, NULL);
}

static void
on_connect(struct mosquitto *m, void *arg, int rc)
{
	(void)m;
	(void)arg;
	if (rc == 0)
		atomic_store(&up, 1);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Looks for `pack` among the records committed after key `after` (big-endian sequence);
 * 1 found, 0 not yet, -1 error. */
static int
committed(MDB_env *env, MDB_dbi dbi, const MDB_val *after, const uint8_t *pack, size_t len)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int found = 0, rc;

	if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	if (mdb_cursor_open(txn, dbi, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST); rc == 0 && !found;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		if (after->mv_size == k.mv_size && memcmp(k.mv_data, after->mv_data, k.mv_size) <= 0)
			break;
		if (v.mv_size >= len &&
		    memcmp((const uint8_t *)v.mv_data + v.mv_size - len, pack, len) == 0)
			found = 1;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return found;
}

int
main(int argc, char **argv)
{
	const char *pki = NULL, *id = NULL, *state = NULL;
	long count = 200, gap_ms = 50, port = 8883;
	char ca[256], cert[256], key[256], topic[128], client[64];
	struct mosquitto *m;
	MDB_env *env = NULL;
	MDB_dbi dbi;
	uint64_t *lat;
	long got = 0, lost = 0;
	int rc = 1;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (strcmp(a, "--pki") == 0) pki = v;
		else if (strcmp(a, "--port") == 0) port = strtol(v, NULL, 10);
		else if (strcmp(a, "--id") == 0) id = v;
		else if (strcmp(a, "--state") == 0) state = v;
		else if (strcmp(a, "--count") == 0) count = strtol(v, NULL, 10);
		else if (strcmp(a, "--gap-ms") == 0) gap_ms = strtol(v, NULL, 10);
		else {
			fprintf(stderr, "tf-durable-probe: unknown option %s\n", a);
			return 2;
		}
	}
	if (pki == NULL || id == NULL || state == NULL || count <= 0) {
		fprintf(stderr, "usage: tf-durable-probe --pki DIR --port P --id DEVICE --state DIR "
		                "[--count N] [--gap-ms MS]\n");
		return 2;
	}
	if ((lat = calloc((size_t)count, sizeof(*lat))) == NULL)
		return 1;
	if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 16) != 0 ||
	    mdb_env_set_mapsize(env, (size_t)1 << 30) != 0 ||
	    mdb_env_open(env, state, MDB_RDONLY, 0644) != 0) {
		fprintf(stderr, "tf-durable-probe: cannot open %s read-only\n", state);
		goto out;
	}
	{
		MDB_txn *txn;
		if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0 ||
		    mdb_dbi_open(txn, "telemetry", 0, &dbi) != 0) {
			fprintf(stderr, "tf-durable-probe: no telemetry database in %s\n", state);
			goto out;
		}
		mdb_txn_commit(txn);
	}
	mosquitto_lib_init();
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	snprintf(cert, sizeof(cert), "%s/devices/%s.crt", pki, id);
	snprintf(key, sizeof(key), "%s/devices/%s.key", pki, id);
	snprintf(topic, sizeof(topic), "tf/site1/dev/%s/telemetry", id);
	snprintf(client, sizeof(client), "probe-%s", id);
	m = mosquitto_new(client, true, NULL);
	if (m == NULL || mosquitto_tls_set(m, ca, NULL, cert, key, NULL) != 0)
		goto out;
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_callback_set(m, on_connect);
	if (mosquitto_connect(m, "127.0.0.1", (int)port, 60) != 0 || mosquitto_loop_start(m) != 0)
		goto out;
	for (int i = 0; i < 1000 && !atomic_load(&up); i++)
		sleep_us(10000);
	for (long k = 0; k < count; k++) {
		struct tfp_telemetry t;
		struct tfp_telem_enc_info info;
		uint8_t pack[512], lastkey[8] = { 0 };
		MDB_val after = { 8, lastkey };
		MDB_txn *txn;
		MDB_cursor *cur;
		MDB_val kk, vv;
		uint64_t t0;

		tfp_telemetry_init(&t);
		snprintf(t.device_id, sizeof(t.device_id), "%s", id);
		snprintf(t.model, sizeof(t.model), "vib-anomaly");
		snprintf(t.version, sizeof(t.version), "1.0.0");
		t.time = 1764000000.0 + (double)k;   /* unique bytes per probe */
		t.samples = 1000 + (uint32_t)k;
		if (tfp_telemetry_encode(&t, pack, sizeof(pack), &info) != 0)
			goto out;
		/* The newest key before publishing: the probe's record comes after it. */
		if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
			if (mdb_cursor_open(txn, dbi, &cur) == 0) {
				if (mdb_cursor_get(cur, &kk, &vv, MDB_LAST) == 0 && kk.mv_size == 8)
					memcpy(lastkey, kk.mv_data, 8);
				mdb_cursor_close(cur);
			}
			mdb_txn_abort(txn);
		}
		t0 = now_us();
		if (mosquitto_publish(m, NULL, topic, (int)info.len, pack, 1, false) != 0) {
			lost++;
			continue;
		}
		for (;;) {
			int f = committed(env, dbi, &after, pack, info.len);
			uint64_t dt = now_us() - t0;
			if (f == 1) {
				lat[got++] = dt;
				break;
			}
			if (f < 0 || dt > 3000000u) {
				lost++;
				break;
			}
			sleep_us(500);
		}
		sleep_us(gap_ms * 1000);
	}
	qsort(lat, (size_t)got, sizeof(*lat), cmp_u64);
	if (got > 0)
		printf("probe: time-to-durable over %ld records: p50 %.1f ms, p99 %.1f ms, max %.1f ms"
		       " (%ld not seen within 3 s)\n",
		       got, (double)lat[got / 2] / 1000.0, (double)lat[(got * 99) / 100] / 1000.0,
		       (double)lat[got - 1] / 1000.0, lost);
	else
		printf("probe: no record seen (%ld lost)\n", lost);
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	rc = 0;
out:
	if (env != NULL)
		mdb_env_close(env);
	free(lat);
	return rc;
}
