/*
 * store: the gateway's only durable state, one LMDB environment with named databases.
 * This module is the only one that knows the key layout; other modules hand it opaque,
 * self-describing records (their own CBOR) and get them back.
 *
 *   devices    device id                    -> registry record
 *   models     model name, 0, seq (BE64)    -> catalog record (manifest + metadata)
 *   blobs      SHA-256 digest (32 B)        -> model container bytes
 *   deltas     from digest, to digest       -> object id (32 B) of the patch, itself a blob;
 *                                            or 1 byte: no delta for the pair (deltas.c)
 *   rollouts   rollout id (BE64)            -> rollout record
 *   telemetry  sequence (BE64)              -> device id, time, SenML-CBOR pack
 *   audit      sequence (BE64)              -> audit entry (JSON text)
 *   meta       name                         -> store metadata (schema version)
 *
 * Durability: every commit is synchronous (LMDB's default fsync), so a state change a
 * device or operator will see is durable once gw_store_commit() returns 0. Control state
 * (everything but telemetry) goes through explicit write transactions; an audit entry
 * appended in the same transaction commits atomically with the change it describes, so the
 * audit log has no gap. Telemetry is group-committed: gw_store_telemetry_add() buffers,
 * gw_store_telemetry_flush() writes the whole batch in one transaction (the loop calls it on
 * a timer and whenever the batch is full).
 *
 * Space: telemetry may use the map only up to map_size - reserve; past that, and on a full
 * map or disk, a batch is dropped and counted, never retried, so control state always has
 * the reserve to commit into. Telemetry beyond telemetry_keep records is trimmed, oldest
 * first, in the flush transaction.
 *
 * Threads: loop thread only. Errors are negative errno values: -ENOENT (no such record),
 * -ENOSPC (map or disk full), -EPROTO (store written by a newer schema), -EINVAL, -EIO
 * (any other LMDB failure; logged with LMDB's message).
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#define GW_STORE_SCHEMA_VERSION 1

enum gw_db {
	GW_DB_META,
	GW_DB_DEVICES,
	GW_DB_MODELS,
	GW_DB_BLOBS,
	GW_DB_DELTAS,
	GW_DB_ROLLOUTS,
	GW_DB_TELEMETRY,
	GW_DB_AUDIT,
	GW_DB_COUNT
};

struct gw_store_config {
	const char *path;          /* directory for data.mdb; created if missing */
	size_t map_size;           /* 0: 1 GiB */
	size_t reserve;            /* 0: map_size / 16 */
	uint64_t telemetry_keep;   /* 0: 1,000,000 records */
	size_t batch_max;          /* 0: 4,096 records per telemetry commit */
};

struct gw_store_stats {
	uint64_t telemetry_stored;
	uint64_t telemetry_dropped;
	uint64_t telemetry_commits;
	uint64_t audit_next;       /* sequence number the next audit entry gets */
	size_t map_used;           /* bytes of the map in use */
	size_t map_size;
};

/* Caller-owned; contents are private to the module. */
struct gw_store {
	MDB_env *env;
	MDB_dbi dbi[GW_DB_COUNT];
	struct gw_store_config cfg;
	uint64_t audit_next;
	uint64_t telemetry_next;
	uint8_t *batch;            /* pending telemetry: length-prefixed records */
	size_t batch_len, batch_cap, batch_count;
	struct gw_store_stats stats;
};

/* A write (or read) transaction. Values returned by gets borrow LMDB's map and stay valid
 * until the transaction ends. */
struct gw_txn {
	struct gw_store *store;
	MDB_txn *txn;
	uint64_t audit_added;
};

int gw_store_open(struct gw_store *s, const struct gw_store_config *cfg);
/* Flushes pending telemetry and closes the environment. Safe on a store never opened
 * (zeroed) or already closed. */
void gw_store_close(struct gw_store *s);

int gw_store_begin(struct gw_store *s, struct gw_txn *t);
int gw_store_begin_read(struct gw_store *s, struct gw_txn *t);
int gw_store_commit(struct gw_txn *t);
void gw_store_abort(struct gw_txn *t);

/* Records of the keyed databases (devices, models, blobs, deltas, rollouts). */
int gw_store_put_device(struct gw_txn *t, const char *id, const void *rec, size_t len);
int gw_store_get_device(struct gw_txn *t, const char *id, const void **rec, size_t *len);
int gw_store_del_device(struct gw_txn *t, const char *id);

int gw_store_put_model(struct gw_txn *t, const char *name, uint64_t seq, const void *rec,
                       size_t len);
int gw_store_get_model(struct gw_txn *t, const char *name, uint64_t seq, const void **rec,
                       size_t *len);

int gw_store_put_blob(struct gw_txn *t, const uint8_t digest[32], const void *data,
                      size_t len);
int gw_store_get_blob(struct gw_txn *t, const uint8_t digest[32], const void **data,
                      size_t *len);

int gw_store_put_delta(struct gw_txn *t, const uint8_t from[32], const uint8_t to[32],
                       const void *data, size_t len);
int gw_store_get_delta(struct gw_txn *t, const uint8_t from[32], const uint8_t to[32],
                       const void **data, size_t *len);

int gw_store_put_rollout(struct gw_txn *t, uint64_t id, const void *rec, size_t len);
int gw_store_get_rollout(struct gw_txn *t, uint64_t id, const void **rec, size_t *len);

/*
 * Rollout engine records (rollout.h), in the rollouts database beside the BE64-keyed ones:
 *   "r/" rollout id                  -> the rollout's record
 *   "d/" rollout id "/" device id    -> one device's record in that rollout
 * Ids never contain '/', so a rollout's devices are one contiguous key range.
 * del_rollout_devices and each_rollout_device visit exactly that range; each_rollout visits
 * every rollout record. Callbacks as gw_store_visit_fn, with the key's id part(s) only.
 */
int gw_store_put_rollout_rec(struct gw_txn *t, const char *id, const void *rec, size_t len);
int gw_store_put_rollout_dev(struct gw_txn *t, const char *id, const char *device,
                             const void *rec, size_t len);
typedef int (*gw_store_rollout_fn)(void *arg, const char *id, const void *val, size_t vlen);
typedef int (*gw_store_rollout_dev_fn)(void *arg, const char *device, const void *val,
                                       size_t vlen);
int gw_store_each_rollout(struct gw_txn *t, gw_store_rollout_fn fn, void *arg);
int gw_store_each_rollout_dev(struct gw_txn *t, const char *id, gw_store_rollout_dev_fn fn,
                              void *arg);
/* Takes the next command id (1, 2, ...) for a device command; final, and never reused, once
 * t commits, so a command re-sent after a crash carries the id the device already knows. */
int gw_store_command_id_next(struct gw_txn *t, uint64_t *id);

/* Visits every record of one keyed database in key order. The callback returns 0 to go on,
 * anything else to stop (that value is returned). Keys and values borrow the map. */
typedef int (*gw_store_visit_fn)(void *arg, const void *key, size_t klen, const void *val,
                                 size_t vlen);
int gw_store_each(struct gw_txn *t, enum gw_db db, gw_store_visit_fn fn, void *arg);

/* Appends an audit entry in t; *seq (may be NULL) gets its sequence number, which is final
 * only once t commits. */
int gw_store_audit_append(struct gw_txn *t, const char *entry, size_t len, uint64_t *seq);

/* Takes the next operator-event sequence number (1, 2, ...) in t: it is final, and never
 * reused, once t commits, so the events that report a change are numbered with it. */
int gw_store_event_seq_next(struct gw_txn *t, uint64_t *seq);

/* Telemetry. add copies the record into the pending batch (flushing first when the batch
 * is full); flush commits the batch, returning the records stored or a negative error when
 * the batch was dropped (it is counted in stats either way). */
int gw_store_telemetry_add(struct gw_store *s, const char *device, uint64_t time_ms,
                           const void *pack, size_t len);
int gw_store_telemetry_flush(struct gw_store *s);
size_t gw_store_telemetry_pending(const struct gw_store *s);

/* Splits a telemetry value (as visited in GW_DB_TELEMETRY) into its parts; -EINVAL when
 * it is not one. The pointers borrow val. */
int gw_store_telemetry_parse(const void *val, size_t vlen, const char **device,
                             size_t *device_len, uint64_t *time_ms, const void **pack,
                             size_t *pack_len);

void gw_store_stats(struct gw_store *s, struct gw_store_stats *out);

/* Drops the map pages this process has read from its resident set (they stay in the
 * kernel's page cache): after a bulk read such as loading the registry, so that the
 * daemon's RSS is its own memory. Harmless at any time outside a transaction's use of
 * borrowed values; loop thread. */
void gw_store_release_pages(struct gw_store *s);

#endif
