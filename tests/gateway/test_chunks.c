/*
 * chunks: the rate-limited queue of chunk requests, on a real LMDB store and a real uv
 * loop. The MQTT link is never started, so answers are built but not published: what is
 * checked here is which requests wait, and that a device's repeated asks do not pile up.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chunks.h"
#include "gw_testutil.h"
#include "log.h"
#include "tinyfleet/protocol/msg_chunk.h"

struct fixture {
	char dir[64];
	uv_loop_t loop;
	struct gw_store store;
	struct gw_mqtt mqtt;
	struct gw_chunks chunks;
	uint8_t object[4096];
	uint8_t id[32];
};

static void
on_message(void *arg, const struct gw_mqtt_msg *m)
{
	(void)arg;
	(void)m;
}

static void
on_state(void *arg, int connected, const char *why)
{
	(void)arg;
	(void)connected;
	(void)why;
}

static int
setup(void **state)
{
	static struct fixture f;
	struct gw_store_config scfg = { .map_size = 16u << 20 };
	struct gw_mqtt_config mcfg = { .uri = "ssl://127.0.0.1:1", .client_id = "gw-test" };
	struct gw_txn t;

	memset(&f, 0, sizeof(f));
	gw_log_init(GW_LOG_WARNING);
	tu_mkdtemp(f.dir, sizeof(f.dir), "tf-chunks");
	scfg.path = f.dir;
	assert_int_equal(uv_loop_init(&f.loop), 0);
	assert_int_equal(gw_store_open(&f.store, &scfg), 0);
	for (size_t i = 0; i < sizeof(f.object); i++)
		f.object[i] = (uint8_t)(i * 7u);
	assert_int_equal(mbedtls_sha256_ret(f.object, sizeof(f.object), f.id, 0), 0);
	assert_int_equal(gw_store_begin(&f.store, &t), 0);
	assert_int_equal(gw_store_put_blob(&t, f.id, f.object, sizeof(f.object)), 0);
	assert_int_equal(gw_store_commit(&t), 0);
	assert_int_equal(gw_mqtt_init(&f.loop, &f.mqtt, &mcfg, on_message, on_state, &f), 0);
	/* 1,024 bytes a second for everyone: one chunk now, the next ones wait. */
	assert_int_equal(gw_chunks_init(&f.loop, &f.chunks, &f.store, &f.mqtt, "site1", 1024, 0),
	                 0);
	*state = &f;
	return 0;
}

static void
on_closed(struct gw_mqtt *m)
{
	(void)m;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	gw_chunks_close(&f->chunks);
	gw_mqtt_close(&f->mqtt, on_closed);
	while (uv_run(&f->loop, UV_RUN_ONCE) != 0)
		;
	uv_loop_close(&f->loop);
	gw_store_close(&f->store);
	tu_rmtree(f->dir);
	return 0;
}

static void
ask(struct fixture *f, const char *dev, uint32_t offset)
{
	struct tfp_chunk_request q = { 7, offset, 1024, { 0 } };
	uint8_t buf[128];
	size_t len;

	memcpy(q.object_id, f->id, sizeof(q.object_id));
	assert_int_equal(tfp_chunk_request_encode(&q, buf, sizeof(buf), &len), 0);
	gw_chunks_on_request(&f->chunks, dev, buf, len);
}

static void
test_repeated_asks_of_a_waiting_device_do_not_pile_up(void **state)
{
	struct fixture *f = *state;

	ask(f, "dev-0001", 0);             /* the bucket's one second: answered at once */
	assert_int_equal(f->chunks.queued, 0);
	ask(f, "dev-0001", 1024);          /* out of tokens: waits */
	assert_int_equal(f->chunks.queued, 1);
	/* The device's stall timer asks again, three times: still one waiting request. */
	for (int i = 0; i < 3; i++)
		ask(f, "dev-0001", 1024);
	assert_int_equal(f->chunks.queued, 1);
	assert_int_equal(f->chunks.stats.merged, 3);
	ask(f, "dev-0001", 2048);          /* a pipelined next offset queues in its own right */
	assert_int_equal(f->chunks.queued, 2);
	ask(f, "dev-0001", 2048);
	assert_int_equal(f->chunks.queued, 2);
	assert_int_equal(f->chunks.stats.merged, 4);
	/* Another device's ask is not a repeat of dev-0001's. */
	ask(f, "dev-0002", 2048);
	assert_int_equal(f->chunks.queued, 3);

	/* As tokens come back the queue empties, in order... */
	for (uint64_t end = uv_now(&f->loop) + 10000;
	     f->chunks.queued > 0 && uv_now(&f->loop) < end;)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(f->chunks.queued, 0);
	assert_int_equal(f->chunks.stats.dropped, 0);
	/* ...and a later ask of dev-0001 is a new waiting request, not merged into the one
	 * that was served. */
	f->chunks.tokens = 0;
	ask(f, "dev-0001", 2048);
	assert_int_equal(f->chunks.queued, 1);
	assert_int_equal(f->chunks.stats.merged, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_repeated_asks_of_a_waiting_device_do_not_pile_up,
		                                setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
