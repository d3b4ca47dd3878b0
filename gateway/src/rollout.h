/*
 * rollout: the staged-rollout engine (DESIGN.md "Rollout", schemas/README.md "Rollouts").
 *
 * A rollout is created as a draft from a checked definition (rollout_def.h), then driven by
 * operator commands (rollout_api.c) and by the engine: draft -> running (wave k) ->
 * paused | completed | aborted | rolled_back. The engine offers the version to each wave's
 * devices (TFP_MSG_UPDATE on tf/<site>/dev/<id>/cmd, QoS 1, with what gw_deltas_choose
 * names), follows their reports (tf/<site>/dev/<id>/report), judges each confirmed device
 * against its own pre-update baseline after the settle window (rollout_gates.h), evaluates
 * the wave's gates and advances, pauses or rolls back (TFP_MSG_ROLLBACK: switch to the
 * previous confirmed slot, no download).
 *
 * Durability: every change is made in memory, marked dirty, and queued with its effects
 * (commands, events, audit entries); gw_rollouts_flush() commits all dirty records, their
 * audit entries and event numbers in ONE write transaction and only then sends the
 * effects. The loop flushes after every callback batch (a uv_check handle) and API
 * operations flush before they answer, so nothing anyone sees is ahead of the store.
 * Command ids come from the store and are stored with the device's record before the
 * command is sent, so after a restart the engine re-sends the same id and a device that
 * already carried it out answers DUPLICATE instead of acting twice. A failed commit sends
 * nothing and reads the changed rollouts back from the store, so memory never runs ahead
 * of it (gw_rollouts_flush).
 *
 * Loop thread only. Errors: negative errno.
 */
#ifndef GW_ROLLOUT_H
#define GW_ROLLOUT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "catalog.h"
#include "deltas.h"
#include "monitor.h"
#include "mqtt.h"
#include "registry.h"
#include "rollout_def.h"
#include "rollout_gates.h"
#include "store.h"

enum gw_ro_state { GW_RO_DRAFT, GW_RO_RUNNING, GW_RO_PAUSED, GW_RO_COMPLETED, GW_RO_ABORTED,
                   GW_RO_ROLLED_BACK };

/* Per-device states, in the order of common.schema.json's device_update_state. */
enum gw_rd_state { GW_RD_WAITING, GW_RD_SKIPPED, GW_RD_OFFERED, GW_RD_DOWNLOADING,
                   GW_RD_ACTIVATING, GW_RD_SETTLING, GW_RD_SUCCEEDED, GW_RD_FAILED,
                   GW_RD_REVERTED, GW_RD_ROLLING_BACK, GW_RD_ROLLED_BACK, GW_RD_COUNT };

enum gw_wave_state { GW_WAVE_PENDING, GW_WAVE_RUNNING, GW_WAVE_SETTLING, GW_WAVE_PASSED,
                     GW_WAVE_FAILED, GW_WAVE_ROLLING_BACK, GW_WAVE_ROLLED_BACK };

/* Reason codes of the contract (schemas/README.md "Reason codes"); 0 = none. */
enum gw_reason {
	GW_R_NONE, GW_R_CLASS_MISMATCH, GW_R_INSUFFICIENT_RAM, GW_R_INSUFFICIENT_FLASH,
	GW_R_MISSING_SENSOR, GW_R_AGENT_ABI_MISMATCH, GW_R_ALREADY_INSTALLED, GW_R_EXCLUDED,
	GW_R_BAD_SIGNATURE, GW_R_UNKNOWN_KEY, GW_R_EXPIRED, GW_R_SEQUENCE_ROLLBACK,
	GW_R_MANIFEST_INVALID, GW_R_DIGEST_MISMATCH, GW_R_SIZE_MISMATCH,
	GW_R_DELTA_BASE_MISMATCH, GW_R_DELTA_INVALID, GW_R_CONTAINER_INVALID, GW_R_FLASH_ERROR,
	GW_R_NO_SPACE, GW_R_SELF_TEST_FAILED, GW_R_BOOT_FAILED, GW_R_DOWNLOAD_TIMEOUT,
	GW_R_RETRIES_EXHAUSTED, GW_R_DEVICE_ERROR, GW_R_QUALITY_DRIFT_ALARM,
	GW_R_QUALITY_LOSS_INCREASE, GW_R_QUALITY_ACCURACY_DROP, GW_R_QUALITY_CONFIDENCE_DROP,
	GW_R_GATE_FAILURE_RATE, GW_R_GATE_REVERTS, GW_R_GATE_QUALITY, GW_R_WAVE_TIMEOUT,
	GW_R_DRIFT_POLICY, GW_R_OPERATOR_CREATE, GW_R_OPERATOR_START, GW_R_OPERATOR_PAUSE,
	GW_R_OPERATOR_RESUME, GW_R_OPERATOR_ABORT, GW_R_OPERATOR_ROLLBACK, GW_R_WAVE_PASSED,
	GW_R_ROLLOUT_COMPLETED, GW_R_GATEWAY_RESTART, GW_R_COUNT
};

/* Flags of struct gw_rdev. */
#define GW_RDF_CONFIRMED 0x01u     /* the device reported CONFIRMED for the current offer */
#define GW_RDF_QFAIL 0x02u         /* judged and failed quality */
#define GW_RDF_RB_PENDING 0x04u    /* roll back as soon as the update lands */
#define GW_RDF_FULL 0x08u          /* the next offer sends the full image (delta refused) */
#define GW_RDF_INSTALLED 0x10u     /* the new image was confirmed on the device */
#define GW_RDF_JUDGED 0x20u        /* quality judged (ok or not) */
#define GW_RDF_ROLLBACK_CMD 0x40u  /* cmd is a rollback command */

/* One device in one rollout (~200 bytes). */
struct gw_rdev {
	char id[TFP_DEVICE_ID_MAX + 1];
	char from_version[TFP_VERSION_MAX + 1];
	uint8_t state;             /* enum gw_rd_state */
	uint8_t wave;              /* 0..30; 255 for skipped devices */
	uint8_t attempts;
	uint8_t flags;             /* GW_RDF_* */
	uint8_t transfer;          /* 0 full, 1 delta: of the last offer */
	uint8_t reason;            /* enum gw_reason */
	uint8_t last_phase;        /* progress events: last phase reported (memory only) */
	uint8_t last_decile;       /* progress events: last 10 % step reported (memory only) */
	int32_t device_code;
	uint64_t cmd;              /* current command id (0: none) */
	uint64_t due_ms;           /* wall: retry or timeout deadline */
	uint64_t sent_ms;          /* wall: last send of cmd; memory only (0 after a restart) */
	uint64_t settle_ms;        /* wall: settling started */
	uint64_t updated_ms;
	uint32_t bytes_sent, full_bytes;   /* over all attempts; full_bytes once confirmed */
	uint32_t obj_size;         /* size of the object the current offer names */
	uint32_t bytes_done;       /* of the current download (memory only) */
	struct gw_qsnap base;      /* pre-update baseline */
	struct gw_qresult q;       /* last quality judgement (memory; recomputed) */
	uint8_t dirty;
	struct gw_effect *fx_last; /* its newest queued effect, while fx_gen is the queue's */
	uint64_t fx_gen;
};

struct gw_wave {
	uint8_t state;             /* enum gw_wave_state */
	uint8_t reason;
	uint32_t devices;
	double share;              /* cumulative share of targeted devices, percent */
	uint64_t started_ms, finished_ms;
	struct gw_gate_eval gates; /* as last evaluated (memory) */
};

struct gw_rollout {
	char id[GW_ROLLOUT_ID_MAX + 1];
	struct gw_rollout_def def;
	uint8_t state;             /* enum gw_ro_state */
	int wave;                  /* current wave; -1 in draft */
	uint8_t reason;
	char message[513];
	char created_by[TFP_DEVICE_ID_MAX + 1];
	uint64_t created_ms, updated_ms;
	uint64_t order;            /* creation order, for rollout.list (newest first) */
	uint64_t model_seq;        /* the version's manifest sequence */
	uint8_t digest[TFP_DIGEST_LEN];
	uint32_t image_size;
	uint8_t manifest[TFP_MANIFEST_MAX];   /* the signed manifest offers carry */
	size_t manifest_len;
	struct gw_wave waves[GW_ROLLOUT_WAVES_MAX];
	unsigned nwaves;
	struct gw_rdev *devs;      /* sorted by id */
	size_t ndev;
	uint64_t bytes_sent, bytes_full;
	uint8_t dirty;             /* the rollout record must be written */
	uint8_t status_dirty;      /* the retained status must be republished */
	uint8_t policy_alerted;    /* the drift policy already spoke (memory) */
	uint8_t fresh;             /* created, not yet committed */
	uint8_t status_cleared;    /* the retained status was cleared after the retention */
	char *status_text;         /* last retained status published (without devices) */
};

/* Drift policy outside rollouts (config.h "drift_policy.*"). */
struct gw_drift_policy {
	double share;              /* percent of devices on V in alarm; 0 = off */
	uint32_t window_s;         /* "within T after install" */
	uint32_t min_devices;      /* fewer devices on V than this: no verdict */
	int action;                /* 0 alert, 1 pause, 2 rollback */
};

struct gw_effect;

typedef void (*gw_rollouts_event_fn)(void *arg, uint64_t seq, const char *kind, json_t *data);

struct gw_rollouts {
	uv_loop_t *loop;
	struct gw_store *store;
	struct gw_registry *registry;
	struct gw_catalog *catalog;
	struct gw_monitor *monitor;
	struct gw_deltas *deltas;
	struct gw_mqtt *mqtt;
	/* Sends an encoded command to a device; set by the daemon after open to
	 * gw_device_send_command (MQTT or CoAP, by where the device was last seen). NULL:
	 * publish on tf/<site>/dev/<id>/cmd. 0 when handed on, else negative. */
	int (*send)(void *arg, const char *id, const uint8_t *buf, size_t len);
	/* Whether a command to the device can go out now (its transport is up); set with
	 * send. NULL: while the MQTT link is up. */
	int (*reachable)(void *arg, const char *id);
	void *send_arg;
	char site[33];
	gw_rollouts_event_fn emit;     /* takes ownership of data */
	void *arg;
	struct gw_rollout **list;
	size_t n, cap;
	uint64_t next_order;
	struct gw_effect *fx_head, *fx_tail;   /* effects waiting for the next commit */
	uint64_t fx_gen;                       /* changes whenever that queue is emptied */
	uv_timer_t tick;
	uv_timer_t kick;               /* an early step after news (gw_rollouts_kick) */
	uv_timer_t commit;             /* a group commit that is due (GW_ROLLOUT_COMMIT_MS) */
	uv_check_t check;
	int started;
	uint64_t last_step;            /* uv_now of the last step */
	uint64_t last_commit;          /* uv_now of the last commit */
	uint64_t last_status_ms;
	struct gw_drift_policy policy;
	uint64_t policy_acted_ms;
	uint32_t status_retention_s;   /* ended rollouts' retained status is cleared after */
	uint32_t chunk_size;           /* suggested in offers (0: GW_ROLLOUT_CHUNK) */
	uint64_t commits, commit_errors, reports, stray_reports;
	uint64_t progress_merged;      /* progress events replaced by a newer one before commit */
};

#define GW_ROLLOUT_STATUS_RETENTION_S (7u * 86400u)

/* Loads every rollout from the store (running ones resume: their in-flight commands are
 * re-sent with the same ids once the link is up) and registers the rollout.* operations
 * with api. Starts the engine's tick and flush handles on loop. */
int gw_rollouts_open(struct gw_rollouts *r, uv_loop_t *loop, struct gw_store *s,
                     struct gw_registry *reg, struct gw_catalog *cat, struct gw_monitor *mon,
                     struct gw_deltas *deltas, struct gw_mqtt *mqtt, struct gw_api *api,
                     const char *site, gw_rollouts_event_fn emit, void *arg);
/* Commits what is pending, closes the handles and frees the rollouts. */
void gw_rollouts_close(struct gw_rollouts *r);

/* A message on tf/<site>/dev/<id>/report (id authenticated by the broker). */
void gw_rollouts_on_report(struct gw_rollouts *r, const char *id, const uint8_t *msg,
                           size_t len);
/* News that may move a rollout on (a report, a device's new state, a start): the engine
 * steps soon, at most once per GW_ROLLOUT_KICK_MS, instead of at the next tick. Cheap and
 * coalesced; does nothing while no rollout is running. */
void gw_rollouts_kick(struct gw_rollouts *r);
#define GW_ROLLOUT_KICK_MS 10
/* Reports commit in groups, at most one commit (one fsync) per this many ms. */
#define GW_ROLLOUT_COMMIT_MS 10
/* gw_deltas_ready_fn: a delta build finished; offers waiting for it go out at the next
 * step. */
void gw_rollouts_delta_ready(void *arg, const uint8_t base[TFP_DIGEST_LEN],
                             const uint8_t target[TFP_DIGEST_LEN]);

/* Commits every dirty record with its audit entries and event numbers in one transaction,
 * then sends the queued effects. 0, or a store error: then nothing was sent, the queued
 * effects are dropped and every changed rollout is read back from the store (in place), so
 * memory is what the store has; the engine's next step decides again. */
int gw_rollouts_flush(struct gw_rollouts *r);
/* One engine step (what the loop timer runs): promotes, judges, evaluates gates, offers,
 * re-sends and retries. now_ms is wall-clock time. */
void gw_rollouts_step(struct gw_rollouts *r, uint64_t now_ms);

/* How long the retained status of an ended (completed, aborted, rolled back) rollout stays
 * on tf/<site>/status/rollout/<id> after it ended (config "rollout.status_retention_s");
 * then the engine's tick clears it with an empty retained message, once. */
void gw_rollouts_set_status_retention(struct gw_rollouts *r, uint32_t seconds);
/* Sets the drift policy (config "drift_policy.*"); share 0 turns it off. */
void gw_rollouts_set_policy(struct gw_rollouts *r, const struct gw_drift_policy *p);

/* ---- operations (rollout_api.c calls these; each flushes before it returns) ---------- */

struct gw_rollout *gw_rollouts_find(struct gw_rollouts *r, const char *id);
/* Creates a draft from *def (ownership of def->json passes to the rollout on success). 0,
 * -EEXIST (same id, same definition: *out is the existing one), -EBUSY (same id, another
 * definition), -ENOENT (no such version; *why says so), -ENODEV (no device matches),
 * store errors. */
int gw_rollouts_create(struct gw_rollouts *r, struct gw_rollout_def *def, const char *by,
                       struct gw_rollout **out);
/* A device belongs to at most one active (running or paused) rollout: the active rollout
 * other than ro whose non-skipped devices include id, or NULL. */
struct gw_rollout *gw_rollouts_holder(struct gw_rollouts *r, const struct gw_rollout *ro,
                                      const char *id);
/* The first active rollout other than ro that holds one of ro's non-skipped devices (that
 * device's id in *device), or NULL. */
struct gw_rollout *gw_rollouts_conflict(struct gw_rollouts *r, const struct gw_rollout *ro,
                                        const char **device);
/* Operator commands: 0 changed, 1 already in that state (nothing done), -EPERM (not
 * allowed from the current state), -EBUSY (start, and rollback of a completed rollout:
 * gw_rollouts_conflict names the active rollout that holds one of its devices), store
 * errors. */
int gw_rollouts_start(struct gw_rollouts *r, struct gw_rollout *ro, const char *by,
                      const char *msg);
int gw_rollouts_pause(struct gw_rollouts *r, struct gw_rollout *ro, const char *by,
                      const char *msg);
int gw_rollouts_resume(struct gw_rollouts *r, struct gw_rollout *ro, const char *by,
                       const char *msg);
int gw_rollouts_abort(struct gw_rollouts *r, struct gw_rollout *ro, const char *by,
                      const char *msg);
int gw_rollouts_rollback(struct gw_rollouts *r, struct gw_rollout *ro, bool whole,
                         const char *by, const char *msg);

/* Status documents (rollout-status.schema.json); the caller owns the result. */
json_t *gw_rollout_status_json(struct gw_rollouts *r, const struct gw_rollout *ro);
void gw_rollout_counts(const struct gw_rollout *ro, int wave, uint32_t counts[GW_RD_COUNT]);

const char *gw_ro_state_name(int s);
const char *gw_rd_state_name(int s);
const char *gw_reason_name(int reason);
/* Registers the rollout.* operations (rollout_api.c). */
int gw_rollout_api_register(struct gw_rollouts *r, struct gw_api *api);

#endif
