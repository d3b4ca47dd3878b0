/*
 * Safe model updates on the device: the OTA state machine of the portable core.
 *
 *   offer -> check -> fetch+apply -> verify -> pending/activate -> self-test -> confirm
 *                                                                          \-> revert
 *   rollback command -> previous confirmed slot
 *
 * check:    the manifest's COSE_Sign1 signature against the pinned release keys
 *           (tfp_manifest_verify), its sequence above the anti-rollback floor (persistent
 *           counter TFA_COUNTER_FLOOR), expiry, and fit: device class, RAM, flash (slot
 *           size), sensors, agent ABI (same major = upper 16 bits, minor <= ours); the offer
 *           must agree with the manifest (full fetch: object = image).
 * fetch:    chunk requests by offset (at most the receive buffer's worth each), a stall
 *           timeout with retries, a download speed floor measured over a window, and a
 *           ceiling: a full image may not exceed the signed image size, a patch may not
 *           announce another image size nor exceed TFA_OTA_PATCH_MAX(image size) bytes.
 * apply:    full images are written as they come; packed images and deltas go through the
 *           streaming applier (tinyfleet/delta/apply.h), reading the base from the active
 *           slot. Pages of the inactive slot are erased just before they are written.
 * verify:   SHA-256 of the slot as read back from flash against the signed digest.
 * activate: one metadata write makes the new slot active and PENDING.
 * self-test: the container is opened in place (flash_map) and its test vectors run through
 *           the inference runtime (tfa_selftest) in the caller's arena.
 * confirm:  one metadata write marks the slot CONFIRMED and records the floor, then the
 *           persistent counter is raised (re-done at boot if power failed in between).
 *
 * Power safety. Slot metadata lives in two pages, each holding one copy with a sequence
 * number and a CRC-32; a write always replaces the older copy, so a torn write leaves the
 * newer intact copy in place. At boot (tfa_ota_init) the agent takes the newest valid copy,
 * finishes an interrupted confirm (counter), reverts a slot left PENDING (it was activated
 * but never confirmed: TFP_OUTCOME_REVERTED / TFP_REASON_CRASH_BEFORE_CONFIRM), checks the
 * active slot's digest and container and falls back to the other confirmed slot if needed.
 * An interrupted download keeps its resume point (the delta applier's checkpoint or the
 * full image's page offset, written at most every TFA_OTA_CKPT_BYTES) and continues from
 * there when the gateway offers the same update again (same command id, or a new id with
 * the same manifest). A re-offer with the exact manifest bytes already verified is not
 * verified again (the metadata keeps the SHA-256 of the verified manifest).
 *
 * Reports: every step sends progress (struct tfp_report, TFA_CHAN_REPORT) and each command
 * ends with one result carrying a tfp_reason. Reports that cannot be sent (TFA_ERR_OFFLINE)
 * wait in a queue of TFA_OTA_QUEUE entries and are sent by tfa_ota_poll; when it is full
 * the oldest progress report is dropped first, results last. The last TFA_OTA_DONE_MAX
 * finished command ids are kept in the metadata: a repeated command id is answered with
 * TFP_OUTCOME_REFUSED / TFP_REASON_DUPLICATE and not carried out again.
 *
 * Config commands (TFP_MSG_CONFIG): checked whole against the device's rules
 * (tinyfleet/agent/settings.h; any bad value: TFP_OUTCOME_REFUSED /
 * TFP_REASON_CONFIG_REFUSED, nothing changed), then merged into the settings kept in the
 * metadata in the same write that records the command id (a repeat is a DUPLICATE, also
 * after a power loss), then cfg.on_settings is called and the result is
 * TFP_REASON_CONFIG_APPLIED. Config commands are accepted during a download.
 *
 * Memory: the caller owns struct tfa_ota (12,992 bytes on x86-64 with the defaults: the
 * delta applier's 7.2 KB, one flash page buffer of TFA_OTA_PAGE_MAX, the receive buffer,
 * the report queue and the metadata copy) and the scratch arena; nothing allocates. The
 * keys, the device profile and the arena are borrowed for the lifetime of the struct.
 * Threads: one thread; the port's functions are called from it.
 * Errors: functions return 0 or a negative code (TFP_ERR_*, TFA_ERR_*); outcomes of commands
 * are not errors, they are reported.
 */
#ifndef TINYFLEET_AGENT_OTA_H
#define TINYFLEET_AGENT_OTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/agent/error.h"
#include "tinyfleet/agent/infer.h"
#include "tinyfleet/agent/port.h"
#include "tinyfleet/agent/settings.h"
#include "tinyfleet/delta/apply.h"
#include "tinyfleet/protocol/common.h"
#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/manifest.h"
#include "tinyfleet/protocol/msg_command.h"
#include "tinyfleet/protocol/msg_chunk.h"
#include "tinyfleet/protocol/msg_report.h"
#include "tinyfleet/protocol/msg_state.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- compile-time budgets -------------------------------------------------------- */
#ifndef TFA_OTA_PAGE_MAX
#define TFA_OTA_PAGE_MAX 2048       /* largest flash page the agent buffers */
#endif
#ifndef TFA_OTA_QUEUE
#define TFA_OTA_QUEUE 8             /* reports kept while offline */
#endif
#ifndef TFA_OTA_DONE_MAX
#define TFA_OTA_DONE_MAX 4          /* finished command ids remembered (idempotency) */
#endif
#ifndef TFA_OTA_RX_MAX
#define TFA_OTA_RX_MAX 1536         /* receive buffer for one message (recv polling) */
#endif
#ifndef TFA_OTA_CHUNK_MAX
#define TFA_OTA_CHUNK_MAX 1024      /* largest chunk the agent asks for */
#endif
#ifndef TFA_OTA_CKPT_BYTES
#define TFA_OTA_CKPT_BYTES 4096     /* full image: resume point every this many bytes */
#endif
#define TFA_OTA_PATCH_MAX(image) ((uint64_t)(image) + (uint64_t)(image) / 4u + 1024u)

#if TFA_OTA_CHUNK_MAX + TFP_CHUNK_RESPONSE_WIRE_OVERHEAD > TFA_OTA_RX_MAX
#error "TFA_OTA_RX_MAX must hold a chunk response of TFA_OTA_CHUNK_MAX bytes"
#endif
#if TFA_OTA_RX_MAX < TFP_MANIFEST_MAX + TFP_COMMAND_WIRE_OVERHEAD
#error "TFA_OTA_RX_MAX must hold an offer with the largest manifest"
#endif

/* What the device is; checked against every manifest. Borrowed, caller-owned. */
struct tfa_device_profile {
	const char *device_class;
	uint32_t ram_bytes;                      /* scratch RAM for models (arena) */
	uint32_t agent_abi;
	size_t n_sensors;
	const char *const *sensors;
};

struct tfa_ota_config {
	const struct tfa_device_profile *device;
	const struct tfp_cose_key *keys;         /* pinned release keys */
	size_t n_keys;
	uint32_t meta_page;                      /* first of 2 metadata pages */
	uint32_t slot_page[TFP_SLOTS];           /* first page of slot A and B */
	uint32_t slot_pages;                     /* pages per slot */
	uint32_t chunk_timeout_ms;               /* no answer to a request: re-ask (0: 2000) */
	uint32_t chunk_retries;                  /* re-asks before DOWNLOAD_STALLED (0: 5) */
	uint32_t speed_floor_bps;                /* bytes per second, 0 = no floor */
	uint32_t speed_window_ms;                /* window the floor is measured over (0: 10000) */
	uint32_t progress_every;                 /* bytes between progress reports (0: 4096) */
	/* Told of every applied config command (may be NULL): the new settings, borrowed for
	 * the call. Runs inside tfa_ota_handle, after the change is durable. */
	void (*on_settings)(void *user, const struct tfa_settings *s);
	/* Checks a signed manifest (may be NULL: tfp_manifest_verify in software). A port
	 * with a crypto accelerator routes the check there; the contract, arguments and
	 * return codes are tfp_manifest_verify's. */
	int (*verify_manifest)(void *user, const uint8_t *msg, size_t len,
	                       const struct tfp_cose_key *keys, size_t n_keys, uint64_t now,
	                       struct tfp_manifest *m);
	void *user;
};

/* Slot metadata as kept in flash (also what the state message reports). */
struct tfa_ota_slot {
	uint64_t sequence;
	uint32_t size;                           /* image bytes */
	uint8_t state;                           /* enum tfp_slot_state */
	uint8_t reserved[3];
	uint8_t digest[TFP_DIGEST_LEN];
	char name[TFP_MODEL_NAME_MAX + 1];
	char version[TFP_VERSION_MAX + 1];
};

struct tfa_ota_done {
	uint64_t command_id;
	uint8_t used, phase, outcome, reason;
	int32_t error;
};

/* The update in progress, persisted so that it resumes after a power loss. */
struct tfa_ota_job {
	uint64_t command_id;
	uint8_t stage;                           /* TFA_OTA_JOB_* */
	uint8_t slot;                            /* target slot */
	uint8_t fetch;                           /* enum tfp_fetch */
	uint8_t reserved;
	uint32_t object_size;
	uint32_t resume_off;                     /* object offset to continue from */
	uint32_t out_off;                        /* image bytes durable in the slot */
	uint8_t object_id[TFP_DIGEST_LEN];
	uint8_t base_digest[TFP_DIGEST_LEN];
	uint8_t manifest_hash[TFP_DIGEST_LEN];   /* SHA-256 of the verified manifest */
	uint8_t ckpt[TFP_DELTA_CKPT_LEN];        /* delta applier checkpoint */
	struct tfa_ota_slot target;              /* what the slot will hold */
	uint64_t min_ram;
};

#define TFA_OTA_JOB_IDLE 0
#define TFA_OTA_JOB_FETCH 1                  /* downloading into job.slot */
#define TFA_OTA_JOB_TEST 2                   /* activated, self-test not passed yet */

struct tfa_ota_meta {
	uint32_t magic;
	uint32_t seq;                            /* newer copy wins */
	uint64_t floor;                          /* anti-rollback floor to hold in the counter */
	uint8_t active;                          /* slot to run */
	uint8_t done_next;                       /* ring position in done[] */
	uint8_t reserved[6];
	struct tfa_ota_slot slot[TFP_SLOTS];
	struct tfa_ota_job job;
	struct tfa_ota_done done[TFA_OTA_DONE_MAX];
	struct tfa_settings settings;            /* from config commands (settings.h) */
	uint32_t crc;                            /* CRC-32 of every byte before it */
	uint32_t reserved2;
};

/* Running (RAM-only) phase of the state machine. */
enum tfa_ota_run {
	TFA_OTA_RUN_IDLE = 0,
	TFA_OTA_RUN_FETCH = 1,                   /* requests outstanding */
};

/* Counters for tests, benchmarks and the simulator's summary (RAM only: since init). */
struct tfa_ota_stats {
	uint32_t requests, responses, stale, reports_dropped, verifies;
	uint32_t confirms;                       /* updates confirmed */
	uint32_t reverts;                        /* activated, then reverted (self-test, boot) */
	uint32_t rollbacks;                      /* rollback commands carried out */
	uint32_t duplicates;                     /* commands answered TFP_REASON_DUPLICATE */
	uint32_t configs;                        /* config commands applied */
};

struct tfa_ota {
	const struct tfa_port *port;
	struct tfa_ota_config cfg;
	uint8_t *arena;
	size_t arena_len;
	struct tfa_ota_meta meta;
	unsigned meta_copy;                      /* copy index holding meta */
	uint64_t floor;                          /* counter value */
	struct tfa_model model;                  /* the active slot's model (valid after init) */
	/* run state */
	enum tfa_ota_run run;
	uint32_t next_off;                       /* next object offset to request */
	uint32_t chunk;                          /* request length */
	uint64_t req_at;                         /* clock of the last request */
	uint32_t tries;
	uint64_t win_start;
	uint32_t win_bytes;
	uint32_t last_progress;
	uint32_t image_size;
	/* page writer */
	uint32_t wr_off;                         /* image bytes handed to the writer */
	uint32_t pb_fill;
	bool wr_failed;                          /* flash failed under the writer */
	bool wr_overflow;                        /* output past the signed size */
	/* report queue */
	uint8_t q[TFA_OTA_QUEUE][TFP_REPORT_WIRE_MAX];
	uint8_t q_len[TFA_OTA_QUEUE];
	uint8_t q_result[TFA_OTA_QUEUE];
	unsigned q_head, q_count;
	struct tfa_ota_stats stats;
	uint8_t rx[TFA_OTA_RX_MAX];
	uint8_t page[TFA_OTA_PAGE_MAX] __attribute__((aligned(8)));
	struct tfp_delta_apply delta;
};

/*
 * Boot: reads the metadata, recovers from an interrupted update (see above) and opens the
 * active slot's model. arena (4-aligned) is where the self-test runs; its length is the RAM
 * budget (a model whose arena need exceeds it is refused with TFP_REASON_NO_RAM as well).
 * Returns 0; TFA_ERR_NO_MODEL when no slot holds a valid confirmed model (a new device must
 * be provisioned with tfa_ota_provision first); TFA_ERR_GEOMETRY when the layout does not
 * fit the flash or a page exceeds TFA_OTA_PAGE_MAX; TFA_ERR_FLASH; TFA_ERR_COUNTER.
 */
int tfa_ota_init(struct tfa_ota *o, const struct tfa_port *port,
                 const struct tfa_ota_config *cfg, uint8_t *arena, size_t arena_len);

/*
 * Factory provisioning (also the host tools' first run), using *scratch as working memory
 * (it is not initialised; call tfa_ota_init afterwards): erases the metadata, writes img
 * into slot A as CONFIRMED with the given sequence and identity, and raises the floor to
 * `sequence`. Not power safe (a factory step). Returns 0, TFP_ERR_ARG, TFA_ERR_GEOMETRY,
 * TFA_ERR_FLASH, TFA_ERR_COUNTER.
 */
int tfa_ota_provision(struct tfa_ota *scratch, const struct tfa_port *port,
                      const struct tfa_ota_config *cfg, const uint8_t *img, uint32_t len, uint64_t sequence, const char *name,
                      const char *version);

/*
 * One received message on TFA_CHAN_CMD or TFA_CHAN_CHUNK_RESP (buf borrowed for the call).
 * Commands run as far as they can without waiting: an offer is checked and its first
 * request sent; the last chunk runs verify, activate, self-test and confirm before this
 * returns. Returns 0 (outcomes are reported, not returned) or TFA_ERR_FLASH when flash
 * failed under it (power lost): the caller should restart the agent.
 */
int tfa_ota_handle(struct tfa_ota *o, enum tfa_chan ch, const uint8_t *buf, size_t len);

/*
 * Timers and I/O: drains the port's recv (when set) into tfa_ota_handle, re-asks stalled
 * chunks, enforces the speed floor and sends queued reports. Call it often (every few ten
 * milliseconds, or when the link comes back). Returns as tfa_ota_handle.
 */
int tfa_ota_poll(struct tfa_ota *o);

/* The settings in force (defaults until a config command changed them). */
const struct tfa_settings *tfa_ota_settings(const struct tfa_ota *o);

/* True while a download runs. */
bool tfa_ota_busy(const struct tfa_ota *o);

/* The active slot's model (valid until the next tfa_ota_handle / tfa_ota_poll). */
const struct tfa_model *tfa_ota_model(const struct tfa_ota *o);

/* Fills the slots, active slot and command of a state message (other fields untouched). */
void tfa_ota_fill_state(const struct tfa_ota *o, struct tfp_state *s);

/* Same as tfa_strerror (kept for callers of the OTA API); never NULL. */
const char *tfa_ota_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
