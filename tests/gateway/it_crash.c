/*
 * Crash test: tinyfleetd is killed with SIGKILL at random moments while simulated devices
 * (tinyfleet-sim) send hello/state and telemetry and an operator publishes model versions,
 * then restarted, CRASH_CYCLES times. After every kill, with the daemon down, the store is
 * checked against what the outside world was told:
 *   - the environment opens (read-only with LMDB, then through store.h) without error;
 *   - every model version whose model.publish got an ok answer is in the catalog with the
 *     digest of the container that was sent;
 *   - every device named by a device.online event the operator received is in the registry;
 *   - the audit log's keys are 0..n-1 without a gap, and n never decreases;
 *   - the store's event sequence is at least every event seq received and never decreases;
 *     a seq received is either a repeat of one received before (at-least-once delivery)
 *     or higher than every seq received before, across restarts;
 *   - no event is lost: every seq the store has numbered was received by the operator or
 *     is still in the store's outbox, to be published on the next start (outbox.h);
 *   - the telemetry record count never decreases (a committed batch is never lost).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <lmdb.h>

#include "broker.h"
#include "catalog.h"
#include "log.h"
#include "store.h"
#include "gw_testutil.h"

#define CRASH_CYCLES 50
#define CRASH_MODELS 600       /* model versions the operator tries to publish */
#define CRASH_DEVICES 160      /* 100 long-lived simulated devices + 60 that come and go */
#define CRASH_MAX_DEV 256

struct ctx {
	struct test_broker broker;
	char conf[160];
	char state[160];
	char events[160];
	char stop[160];
	pid_t daemon, sub, sim, waves, pubs;
	uint8_t digest[CRASH_MODELS + 1][32];
	/* what the checks saw last time */
	uint64_t audit_n, event_seq, telemetry_n;
	int acked, online_devices, max_uptime_ms;
	long events_seen, event_repeats;
};

static struct ctx C;

static pid_t
spawn_sh(const char *cmd)
{
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return p;
}

/* Ends a child we started (its own process group, by PID): SIGTERM, up to `ms`, then
 * SIGKILL. */
static void
end_child(pid_t *p, int ms)
{
	if (*p <= 0)
		return;
	for (int i = 0; i < ms / 20 && waitpid(*p, NULL, WNOHANG) == 0; i++) {
		if (i == 0 || i == ms / 40)
			kill(-*p, SIGTERM);   /* its process group: the shell and what it runs */
		tu_sleep_ms(20);
	}
	if (waitpid(*p, NULL, WNOHANG) == 0) {
		kill(-*p, SIGKILL);
		waitpid(*p, NULL, 0);
	}
	*p = 0;
}

/* Model version 1.0.<i> (sequence i): container and manifest signed with the test release
 * key; writes <dir>/pub-<i>.json, the model.publish body, and keeps the digest. */
static void
write_publish_body(struct ctx *c, struct tfp_cose_signer *signer, int i)
{
	static struct tu_model m;
	static char body[8192];
	char path[200], version[32];
	size_t n;

	snprintf(version, sizeof(version), "1.0.%d", i);
	tu_signed_model(signer, version, (uint64_t)i, (float)i / 1000.0f, &m);
	memcpy(c->digest[i], m.digest, 32);
	n = tu_publish_body(&m, body, sizeof(body));
	snprintf(path, sizeof(path), "%s/pub-%d.json", c->broker.dir, i);
	tu_write_file(path, body, n);
}

static void
write_config(struct ctx *c)
{
	FILE *f = fopen(c->conf, "w");
	assert_non_null(f);
	fprintf(f, "site = site1\nstate_dir = %s\nmqtt.uri = %s\nmqtt.ca = %s\n", c->state,
	        c->broker.uri, test_broker_path(&c->broker, "ca.crt"));
	fprintf(f, "mqtt.cert = %s\nmqtt.key = %s\nstore.map_size_mb = 64\nstore.reserve_mb = 8\n",
	        test_broker_path(&c->broker, "gateway.crt"),
	        test_broker_path(&c->broker, "gateway.key"));
	fprintf(f, "release_keys = %s/tests/interop/keys/release-test.pub.pem\n", TF_SOURCE_DIR);
	fclose(f);
}

static void
start_daemon(struct ctx *c)
{
	c->daemon = fork();
	assert_true(c->daemon >= 0);
	if (c->daemon == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		execl(TF_TINYFLEETD, "tinyfleetd", "-f", c->conf, (char *)NULL);
		_exit(127);
	}
}

/* The mosquitto client options for identity `who`. */
static const char *
tls_args(struct ctx *c, const char *who)
{
	static char buf[600];
	char cert[64], key[64];
	snprintf(cert, sizeof(cert), "%s.crt", who);
	snprintf(key, sizeof(key), "%s.key", who);
	snprintf(buf, sizeof(buf), "-h 127.0.0.1 -p %d --cafile %s --cert %s", c->broker.port,
	         test_broker_path(&c->broker, "ca.crt"), test_broker_path(&c->broker, cert));
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " --key %s",
	         test_broker_path(&c->broker, key));
	return buf;
}

static void
start_load(struct ctx *c)
{
	char cmd[4096], sim[1024], model[200], tls[600];
	int width = snprintf(NULL, 0, "%d", CRASH_DEVICES);

	if (width < 4)
		width = 4;
	snprintf(model, sizeof(model), "%s/v1.tfm", c->broker.dir);
	snprintf(cmd, sizeof(cmd), "%s %s >/dev/null 2>&1", TF_MODEL_TOOL, model);
	assert_int_equal(system(cmd), 0);
	snprintf(sim, sizeof(sim),
	         "%s --pki %s --port %d --id-width %d --model %s --release-pub "
	         "%s/tests/interop/keys/release-test.pub.pem --timeout 30 --ramp 200",
	         TF_SIM, c->broker.pki, c->broker.port, width, model, TF_SOURCE_DIR);

	/* The operator follows every event (QoS 1), one JSON document a line. */
	snprintf(tls, sizeof(tls), "%s", tls_args(c, "op-alice"));
	snprintf(cmd, sizeof(cmd),
	         "exec stdbuf -oL mosquitto_sub %s -q 1 -t 'tf/site1/events/#' > %s 2>/dev/null",
	         tls, c->events);
	c->sub = spawn_sh(cmd);
	/* 100 devices for the whole run: hello, then telemetry every 100 ms each. */
	snprintf(cmd, sizeof(cmd),
	         "exec %s --devices 100 --first 1 --duration 120 --sample-ms 20 --every 5 "
	         ">/dev/null 2>&1",
	         sim);
	c->sim = spawn_sh(cmd);
	/* 60 more in waves of 10 that come, say hello, send telemetry and leave. */
	snprintf(cmd, sizeof(cmd),
	         "w=0; while [ ! -e %s ]; do %s --devices 10 --first $((101 + 10 * (w %% 6))) "
	         "--duration 2 --sample-ms 50 --every 4 >/dev/null 2>&1; w=$((w + 1)); done",
	         c->stop, sim);
	c->waves = spawn_sh(cmd);
	/* The operator publishes versions one after the other; the answer is kept per version. */
	snprintf(cmd, sizeof(cmd),
	         "i=1; while [ ! -e %s ] && [ $i -le %d ]; do mosquitto_rr -V mqttv5 %s -q 1 "
	         "-t tf/site1/api/req/model.publish/op-alice -e tf/site1/api/resp/op-alice/p$i "
	         "-D publish correlation-data c$i -W 2 -m \"$(cat %s/pub-$i.json)\" > %s/ans-$i.json "
	         "2>/dev/null; i=$((i + 1)); done",
	         c->stop, CRASH_MODELS, tls, c->broker.dir, c->broker.dir);
	c->pubs = spawn_sh(cmd);
}

static void
stop_load(struct ctx *c)
{
	int fd = open(c->stop, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
	end_child(&c->sim, 3000);
	end_child(&c->waves, 5000);
	end_child(&c->pubs, 4000);
	/* The operator's subscriber stays: it takes the events of the last run too. */
}

/* ---- checks, with the daemon down ---- */

static uint64_t
be64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

#define CRASH_MAX_SEQ 65536

struct seen {
	char dev[CRASH_MAX_DEV][32];
	int ndev;
	uint64_t max_seq;
	long repeats;
	uint8_t got[CRASH_MAX_SEQ / 8];   /* event seqs received */
};

static void
seen_add(struct seen *s, const char *id)
{
	for (int i = 0; i < s->ndev; i++)
		if (strcmp(s->dev[i], id) == 0)
			return;
	assert_true(s->ndev < CRASH_MAX_DEV);
	snprintf(s->dev[s->ndev++], sizeof(s->dev[0]), "%s", id);
}

/* Reads every event received so far. */
static void
read_events(struct ctx *c, struct seen *s)
{
	FILE *f = fopen(c->events, "r");
	char line[4096];
	long n = 0;
	uint64_t last = 0, v;

	memset(s, 0, sizeof(*s));
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t l = strlen(line);
		json_t *j, *seq, *dev;
		if (l == 0 || line[l - 1] != '\n')
			break;   /* a line still being written */
		j = json_loads(line, 0, NULL);
		if (j == NULL)
			fail_msg("event is not JSON: %s", line);
		n++;
		seq = json_object_get(j, "seq");
		assert_true(json_is_integer(seq));
		/* In the order received: a new seq is higher than every one before, across
		 * restarts too; a lower one must be a repeat. */
		v = (uint64_t)json_integer_value(seq);
		assert_true(v > 0 && v < CRASH_MAX_SEQ);
		if (v <= last && !(s->got[v / 8] >> (v % 8) & 1))
			fail_msg("event seq %llu first received after %llu", (unsigned long long)v,
			         (unsigned long long)last);
		if (s->got[v / 8] >> (v % 8) & 1)
			s->repeats++;
		s->got[v / 8] |= (uint8_t)(1u << (v % 8));
		if (v > last)
			last = v;
		if ((uint64_t)json_integer_value(seq) > s->max_seq)
			s->max_seq = (uint64_t)json_integer_value(seq);
		if (strcmp(json_string_value(json_object_get(j, "event")), "device.online") == 0) {
			dev = json_object_get(json_object_get(j, "data"), "device");
			assert_true(json_is_string(dev));
			seen_add(s, json_string_value(dev));
		}
		json_decref(j);
	}
	fclose(f);
	c->events_seen = n;
	c->event_repeats = s->repeats;
}

/* Whether every event the store has numbered so far was received (the daemon may run). */
static int
all_events_received(struct ctx *c, struct seen *s)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	MDB_val k = { 9, "event_seq" }, v;
	uint64_t evseq = 0;

	read_events(c, s);
	if (mdb_env_create(&env) != 0)
		return 0;
	mdb_env_set_maxdbs(env, 16);
	if (mdb_env_open(env, c->state, MDB_RDONLY, 0644) != 0 ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0) {
		mdb_env_close(env);
		return 0;
	}
	if (mdb_dbi_open(txn, "meta", 0, &meta) == 0 && mdb_get(txn, meta, &k, &v) == 0 &&
	    v.mv_size == 8)
		evseq = be64(v.mv_data);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	for (uint64_t n = 1; n <= evseq && n < CRASH_MAX_SEQ; n++)
		if (!(s->got[n / 8] >> (n % 8) & 1))
			return 0;
	return 1;
}

/* The first seq in 1..evseq neither received nor in the outbox, or 0. */
static uint64_t
first_lost_event(MDB_txn *txn, MDB_dbi outbox, const struct seen *s, uint64_t evseq)
{
	for (uint64_t n = 1; n <= evseq && n < CRASH_MAX_SEQ; n++) {
		uint8_t key[8];
		MDB_val k = { sizeof(key), key }, v;
		if (s->got[n / 8] >> (n % 8) & 1)
			continue;
		for (int i = 0; i < 8; i++)
			key[i] = (uint8_t)(n >> (56 - 8 * i));
		if (mdb_get(txn, outbox, &k, &v) != 0)
			return n;
	}
	return 0;
}

static void
check_lmdb_raw(struct ctx *c, struct seen *s)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi audit, devices, meta, telem;
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_stat st;
	uint64_t n = 0, evseq = 0;
	int rc;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)64 << 20), 0);
	rc = mdb_env_open(env, c->state, MDB_RDONLY, 0644);
	if (rc != 0)
		fail_msg("read-only open: %s", mdb_strerror(rc));
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "audit", 0, &audit), 0);
	assert_int_equal(mdb_dbi_open(txn, "devices", 0, &devices), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_dbi_open(txn, "telemetry", 0, &telem), 0);

	/* Audit keys dense from 0. */
	assert_int_equal(mdb_cursor_open(txn, audit, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		assert_int_equal(k.mv_size, 8);
		if (be64(k.mv_data) != n)
			fail_msg("audit gap: key %llu where %llu was due",
			         (unsigned long long)be64(k.mv_data), (unsigned long long)n);
		assert_true(v.mv_size > 0);
		n++;
	}
	assert_int_equal(rc, MDB_NOTFOUND);
	mdb_cursor_close(cur);
	if (n < c->audit_n)
		fail_msg("audit log shrank from %llu to %llu", (unsigned long long)c->audit_n,
		         (unsigned long long)n);
	c->audit_n = n;

	/* Every device announced online is registered. */
	for (int i = 0; i < s->ndev; i++) {
		k.mv_size = strlen(s->dev[i]);
		k.mv_data = (void *)s->dev[i];
		if (mdb_get(txn, devices, &k, &v) != 0)
			fail_msg("%s was announced online but is not in the registry", s->dev[i]);
	}
	c->online_devices = s->ndev;

	/* The event sequence covers every event sent and never goes back. */
	k.mv_size = 9;
	k.mv_data = "event_seq";
	if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 8)
		evseq = be64(v.mv_data);
	if (evseq < s->max_seq)
		fail_msg("event seq %llu received, store says %llu", (unsigned long long)s->max_seq,
		         (unsigned long long)evseq);
	if (evseq < c->event_seq)
		fail_msg("event seq went back from %llu to %llu", (unsigned long long)c->event_seq,
		         (unsigned long long)evseq);
	c->event_seq = evseq;

	/* Every numbered event was received or is still in the outbox. The subscriber may not
	 * have written the last ones it got yet when the daemon's delete of them committed:
	 * read its file again before calling one lost. */
	{
		MDB_dbi outbox;
		uint64_t lost;
		assert_int_equal(mdb_dbi_open(txn, "outbox", 0, &outbox), 0);
		for (int tries = 0; (lost = first_lost_event(txn, outbox, s, evseq)) != 0 &&
		                    tries < 20; tries++) {
			tu_sleep_ms(100);
			read_events(c, s);
		}
		if (lost != 0)
			fail_msg("event %llu was numbered but neither received nor in the outbox",
			         (unsigned long long)lost);
	}

	/* Committed telemetry stays. */
	assert_int_equal(mdb_stat(txn, telem, &st), 0);
	if (st.ms_entries < c->telemetry_n)
		fail_msg("telemetry shrank from %llu to %zu", (unsigned long long)c->telemetry_n,
		         st.ms_entries);
	c->telemetry_n = st.ms_entries;
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* Every version the operator was told was published is in the catalog, same digest. */
static void
check_catalog(struct ctx *c)
{
	struct gw_store s;
	struct gw_store_config scfg = { 0 };
	struct gw_catalog cat;
	struct gw_model m;
	char path[200], buf[4096], version[32];
	int acked = 0;

	scfg.path = c->state;
	scfg.map_size = (size_t)64 << 20;
	scfg.reserve = (size_t)8 << 20;
	assert_int_equal(gw_store_open(&s, &scfg), 0);
	assert_int_equal(gw_catalog_open(&cat, &s, TF_SOURCE_DIR
	                                 "/tests/interop/keys/release-test.pub.pem"),
	                 0);
	for (int i = 1; i <= CRASH_MODELS; i++) {
		FILE *f;
		size_t n;
		snprintf(path, sizeof(path), "%s/ans-%d.json", c->broker.dir, i);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		if (strstr(buf, "\"ok\":true") == NULL) {
			if (getenv("TF_CRASH_DEBUG") != NULL && n > 0)
				print_message("answer %d: %s\n", i, buf);
			continue;
		}
		snprintf(version, sizeof(version), "\"1.0.%d\"", i);
		assert_non_null(strstr(buf, version));
		snprintf(version, sizeof(version), "1.0.%d", i);
		if (gw_catalog_find_version(&cat, "pump-anomaly", version, &m) != 0)
			fail_msg("acknowledged version %s is not in the catalog", version);
		assert_memory_equal(m.m.digest, c->digest[i], 32);
		acked++;
	}
	assert_true(acked >= c->acked);
	c->acked = acked;
	gw_store_close(&s);
}

static int
setup(void **state)
{
	struct ctx *c = &C;
	gw_log_init(GW_LOG_ERR);
	if (test_broker_start(&c->broker, CRASH_DEVICES) != 0)
		return -1;
	snprintf(c->conf, sizeof(c->conf), "%.63s/tinyfleetd.conf", c->broker.dir);
	snprintf(c->state, sizeof(c->state), "%.63s/state", c->broker.dir);
	snprintf(c->events, sizeof(c->events), "%.63s/events.jsonl", c->broker.dir);
	snprintf(c->stop, sizeof(c->stop), "%.63s/stop", c->broker.dir);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;
	if (c->daemon > 0) {
		kill(c->daemon, SIGKILL);
		waitpid(c->daemon, NULL, 0);
		c->daemon = 0;
	}
	stop_load(c);
	end_child(&c->sub, 1000);
	test_broker_destroy(&c->broker);
	return 0;
}

static void
test_kill9_under_load_loses_nothing_acknowledged(void **state)
{
	struct ctx *c = *state;
	struct tfp_cose_signer signer;
	static struct seen s;
	char pem[4096];
	FILE *f;
	unsigned seed = (unsigned)time(NULL);
	int up_ms = 0;

	f = fopen(TF_SOURCE_DIR "/tests/interop/keys/release-test.key.pem", "r");
	assert_non_null(f);
	pem[fread(pem, 1, sizeof(pem) - 1, f)] = '\0';
	fclose(f);
	memset(&signer, 0, sizeof(signer));
	assert_int_equal(tfp_cose_signer_init_pem(&signer, pem), 0);
	for (int i = 1; i <= CRASH_MODELS; i++)
		write_publish_body(c, &signer, i);
	tfp_cose_signer_free(&signer);

	write_config(c);
	start_load(c);
	print_message("crash: seed %u\n", seed);
	srand(seed);
	for (int cycle = 0; cycle < CRASH_CYCLES; cycle++) {
		int ms = 200 + rand() % 700;
		start_daemon(c);
		tu_sleep_ms(ms);
		up_ms += ms;
		assert_int_equal(waitpid(c->daemon, NULL, WNOHANG), 0);   /* it did not die alone */
		kill(c->daemon, SIGKILL);
		assert_int_equal(waitpid(c->daemon, NULL, 0), c->daemon);
		c->daemon = 0;
		read_events(c, &s);
		check_lmdb_raw(c, &s);
		check_catalog(c);
	}
	stop_load(c);
	/* One last run without load: it publishes what the kills left in the outbox, so the
	 * operator ends up with every numbered event (repeats allowed). Then the same checks
	 * over everything received. */
	start_daemon(c);
	tu_sleep_ms(1500);
	for (int i = 0; i < 100 && !all_events_received(c, &s); i++)
		tu_sleep_ms(100);
	assert_true(all_events_received(c, &s));
	kill(c->daemon, SIGKILL);
	waitpid(c->daemon, NULL, 0);
	c->daemon = 0;
	read_events(c, &s);
	check_lmdb_raw(c, &s);
	check_catalog(c);
	print_message("crash: %d kills over %d ms up; %d versions acknowledged, %d devices "
	              "announced online, %ld events (%ld repeats), audit %llu entries, event seq "
	              "%llu, telemetry %llu records\n",
	              CRASH_CYCLES, up_ms, c->acked, c->online_devices, c->events_seen,
	              c->event_repeats,
	              (unsigned long long)c->audit_n, (unsigned long long)c->event_seq,
	              (unsigned long long)c->telemetry_n);
	/* The load did reach the gateway: otherwise the checks above proved nothing. */
	assert_true(c->acked >= 5);
	assert_true(c->online_devices >= 50);
	assert_true(c->telemetry_n >= 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9_under_load_loses_nothing_acknowledged),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
