/* The gateway's LMDB store: durability, atomic audit, group-committed telemetry, space. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

struct fixture {
	char dir[64];
	struct gw_store store;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/tf-store-XXXXXX");
	if (f == NULL || mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];
	gw_store_close(&f->store);
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
open_store(struct fixture *f, size_t map_size, uint64_t keep)
{
	struct gw_store_config cfg = { .path = f->dir, .map_size = map_size,
	                               .telemetry_keep = keep, .batch_max = 512 };
	assert_int_equal(gw_store_open(&f->store, &cfg), 0);
}

static void
test_records_survive_reopen(void **state)
{
	struct fixture *f = *state;
	struct gw_txn t;
	const void *v;
	size_t n;
	uint8_t digest[32] = { 1, 2, 3 }, other[32] = { 9 };

	open_store(f, 0, 0);
	assert_int_equal(gw_store_begin(&f->store, &t), 0);
	assert_int_equal(gw_store_put_device(&t, "dev-0001", "rec1", 4), 0);
	assert_int_equal(gw_store_put_model(&t, "pump", 7, "m7", 2), 0);
	assert_int_equal(gw_store_put_blob(&t, digest, "blob", 4), 0);
	assert_int_equal(gw_store_put_delta(&t, other, digest, "d", 1), 0);
	assert_int_equal(gw_store_put_rollout(&t, 42, "r", 1), 0);
	assert_int_equal(gw_store_commit(&t), 0);
	gw_store_close(&f->store);

	open_store(f, 0, 0);
	assert_int_equal(gw_store_begin_read(&f->store, &t), 0);
	assert_int_equal(gw_store_get_device(&t, "dev-0001", &v, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(v, "rec1", 4);
	assert_int_equal(gw_store_get_model(&t, "pump", 7, &v, &n), 0);
	assert_memory_equal(v, "m7", 2);
	assert_int_equal(gw_store_get_model(&t, "pump", 6, &v, &n), -ENOENT);
	assert_int_equal(gw_store_get_blob(&t, digest, &v, &n), 0);
	assert_int_equal(gw_store_get_delta(&t, other, digest, &v, &n), 0);
	assert_int_equal(gw_store_get_delta(&t, digest, other, &v, &n), -ENOENT);
	assert_int_equal(gw_store_get_rollout(&t, 42, &v, &n), 0);
	assert_int_equal(gw_store_get_device(&t, "", &v, &n), -EINVAL);
	gw_store_abort(&t);
}

static void
test_aborted_change_takes_no_audit_number(void **state)
{
	struct fixture *f = *state;
	struct gw_txn t;
	struct gw_store_stats st;
	uint64_t seq;
	const void *v;
	size_t n;

	open_store(f, 0, 0);
	assert_int_equal(gw_store_begin(&f->store, &t), 0);
	assert_int_equal(gw_store_put_device(&t, "a", "1", 1), 0);
	assert_int_equal(gw_store_audit_append(&t, "first", 5, &seq), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(gw_store_commit(&t), 0);

	assert_int_equal(gw_store_begin(&f->store, &t), 0);
	assert_int_equal(gw_store_put_device(&t, "b", "2", 1), 0);
	assert_int_equal(gw_store_audit_append(&t, "lost", 4, &seq), 0);
	gw_store_abort(&t);

	assert_int_equal(gw_store_begin(&f->store, &t), 0);
	assert_int_equal(gw_store_audit_append(&t, "second", 6, &seq), 0);
	assert_int_equal(seq, 1);   /* no gap left by the aborted change */
	assert_int_equal(gw_store_commit(&t), 0);
	gw_store_close(&f->store);

	open_store(f, 0, 0);
	gw_store_stats(&f->store, &st);
	assert_int_equal(st.audit_next, 2);
	assert_int_equal(gw_store_begin_read(&f->store, &t), 0);
	assert_int_equal(gw_store_get_device(&t, "b", &v, &n), -ENOENT);
	gw_store_abort(&t);
}

struct count_ctx {
	uint64_t n;
	uint64_t first_time;
	int bad;
};

static int
count_telemetry(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct count_ctx *c = arg;
	const char *dev;
	const void *pack;
	size_t dlen, plen;
	uint64_t t;
	(void)key;
	if (klen != 8 || gw_store_telemetry_parse(val, vlen, &dev, &dlen, &t, &pack, &plen) != 0 ||
	    dlen != 8 || plen != 16)
		c->bad++;
	if (c->n == 0)
		c->first_time = t;
	c->n++;
	return 0;
}

static void
test_telemetry_is_group_committed_and_trimmed(void **state)
{
	struct fixture *f = *state;
	struct gw_store_stats st;
	struct gw_txn t;
	struct count_ctx c = { 0 };
	uint8_t pack[16] = { 0 };

	open_store(f, 0, 3000);
	for (uint64_t i = 0; i < 5000; i++) {
		char dev[16];
		snprintf(dev, sizeof(dev), "dev-%04u", (unsigned)(i % 1000));
		assert_int_equal(gw_store_telemetry_add(&f->store, dev, i, pack, sizeof(pack)), 0);
	}
	assert_true(gw_store_telemetry_flush(&f->store) > 0);
	gw_store_stats(&f->store, &st);
	assert_int_equal(st.telemetry_stored, 5000);
	assert_int_equal(st.telemetry_dropped, 0);
	/* 512 records per commit: ten commits, not five thousand. */
	assert_int_equal(st.telemetry_commits, 10);
	gw_store_close(&f->store);

	open_store(f, 0, 3000);
	assert_int_equal(gw_store_begin_read(&f->store, &t), 0);
	assert_int_equal(gw_store_each(&t, GW_DB_TELEMETRY, count_telemetry, &c), 0);
	gw_store_abort(&t);
	assert_int_equal(c.bad, 0);
	assert_int_equal(c.n, 3000);          /* trimmed to telemetry_keep */
	assert_int_equal(c.first_time, 2000); /* oldest dropped first */
}

static void
test_full_map_drops_telemetry_but_commits_control_state(void **state)
{
	struct fixture *f = *state;
	struct gw_store_stats st;
	struct gw_txn t;
	static uint8_t pack[2048];
	int dropped = 0;

	/* 2 MiB map, 128 KiB reserve. */
	open_store(f, 2u << 20, 0);
	for (int i = 0; i < 4000 && !dropped; i++) {
		assert_int_equal(gw_store_telemetry_add(&f->store, "dev-0001", (uint64_t)i, pack,
		                                        sizeof(pack)), 0);
		if (i % 64 == 63)
			dropped = gw_store_telemetry_flush(&f->store) == -ENOSPC;
	}
	assert_true(dropped);
	gw_store_stats(&f->store, &st);
	assert_true(st.telemetry_dropped > 0);
	assert_true(st.telemetry_stored > 0);

	for (int i = 0; i < 20; i++) {
		char id[16];
		snprintf(id, sizeof(id), "dev-%04d", i);
		assert_int_equal(gw_store_begin(&f->store, &t), 0);
		assert_int_equal(gw_store_put_device(&t, id, pack, 1024), 0);
		assert_int_equal(gw_store_audit_append(&t, "registered", 10, NULL), 0);
		assert_int_equal(gw_store_commit(&t), 0);
	}
}

static void
test_newer_schema_is_refused(void **state)
{
	struct fixture *f = *state;
	struct gw_store_config cfg = { .path = f->dir };
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t v9[8] = { 0, 0, 0, 0, 0, 0, 0, 9 };
	MDB_val k = { 6, "schema" }, v = { 8, v9 };

	open_store(f, 0, 0);
	gw_store_close(&f->store);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	assert_int_equal(gw_store_open(&f->store, &cfg), -EPROTO);
}

/*
 * A writer process commits numbered device records with their audit entries and reports
 * each acknowledged commit on a pipe; it is killed with SIGKILL at a random moment, many
 * times. Every acknowledged record must be there afterwards, the audit log gap-free.
 */
static void
test_acknowledged_commits_survive_sigkill(void **state)
{
	struct fixture *f = *state;
	uint64_t acked = 0, next = 0;
	unsigned seed = (unsigned)time(NULL);

	srand(seed);
	for (int round = 0; round < 50; round++) {
		int fds[2];
		pid_t pid;
		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct gw_store s;
			struct gw_store_config cfg = { .path = f->dir };
			close(fds[0]);
			if (gw_store_open(&s, &cfg) != 0)
				_exit(2);
			for (uint64_t i = next;; i++) {
				struct gw_txn t;
				char id[24];
				snprintf(id, sizeof(id), "d-%llu", (unsigned long long)i);
				if (gw_store_begin(&s, &t) != 0 ||
				    gw_store_put_device(&t, id, &i, sizeof(i)) != 0 ||
				    gw_store_audit_append(&t, id, strlen(id), NULL) != 0 ||
				    gw_store_telemetry_add(&s, "dev-x", i, id, 4) != 0 ||
				    gw_store_commit(&t) != 0)
					_exit(3);
				if (i % 7 == 0)
					gw_store_telemetry_flush(&s);
				if (write(fds[1], &i, sizeof(i)) != sizeof(i))
					_exit(4);
			}
		}
		close(fds[1]);
		/* Wait for the writer's first acknowledgement so every round makes progress even
		 * on a loaded machine, then kill it at a random moment. */
		uint64_t v;
		if (read(fds[0], &v, sizeof(v)) == sizeof(v))
			acked = v + 1;
		struct timespec ts = { 0, (rand() % 20000) * 1000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		while (read(fds[0], &v, sizeof(v)) == sizeof(v))
			acked = v + 1;
		close(fds[0]);
		waitpid(pid, NULL, 0);

		/* Everything acknowledged is there; the next writer continues after the last. */
		open_store(f, 0, 0);
		struct gw_txn t;
		struct gw_store_stats st;
		assert_int_equal(gw_store_begin_read(&f->store, &t), 0);
		for (uint64_t i = 0; i < acked; i++) {
			char id[24];
			const void *val;
			size_t n;
			snprintf(id, sizeof(id), "d-%llu", (unsigned long long)i);
			if (gw_store_get_device(&t, id, &val, &n) != 0)
				fail_msg("acknowledged record %s lost (seed %u)", id, seed);
		}
		gw_store_abort(&t);
		gw_store_stats(&f->store, &st);
		/* Audit numbers are dense: one per committed record, none missing. */
		assert_true(st.audit_next >= acked && st.audit_next <= acked + 1);
		next = st.audit_next;
		gw_store_close(&f->store);
	}
	assert_true(acked >= 50);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records_survive_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aborted_change_takes_no_audit_number, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_telemetry_is_group_committed_and_trimmed, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_full_map_drops_telemetry_but_commits_control_state,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acknowledged_commits_survive_sigkill, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
