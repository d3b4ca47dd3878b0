/*
 * The OTA state machine (contract: tinyfleet/agent/ota.h). Persistence is in ota_store.c.
 *
 * Order of durable steps for an update, each one metadata write:
 *   1. job FETCH, target slot EMPTY        (before the first page of the slot is erased)
 *   2. job FETCH with a newer resume point  (every checkpoint)
 *   3. active = target, target PENDING, job TEST   (verified; activate)
 *   4. target CONFIRMED, job IDLE, floor = sequence, done[] += command   (then the counter)
 *   or 4'. active = previous, target FAILED, job IDLE, done[] += command (revert)
 * A power loss between two writes leaves the previous write in force, and boot (init)
 * knows what to do in each case: FETCH resumes on the next offer, TEST reverts.
 */
#include <string.h>

#include <mbedtls/sha256.h>

#include "ota_int.h"
#include "tinyfleet/protocol/manifest.h"

/* ---- reports ----------------------------------------------------------------------- */

static void
queue_flush(struct tfa_ota *o)
{
	const struct tfa_port *p = o->port;

	while (o->q_count > 0) {
		unsigned h = o->q_head;
		if (p->send == NULL || p->send(p->ctx, TFA_CHAN_REPORT, o->q[h], o->q_len[h]) != 0)
			return;
		o->q_head = (h + 1) % TFA_OTA_QUEUE;
		o->q_count--;
	}
}

static void
queue_push(struct tfa_ota *o, const struct tfp_report *r)
{
	unsigned slot;
	size_t len;

	if (o->q_count == TFA_OTA_QUEUE) {
		/* Full: drop the oldest progress report, or the oldest result if all are. */
		unsigned drop = 0;
		for (unsigned i = 0; i < o->q_count; i++) {
			if (!o->q_result[(o->q_head + i) % TFA_OTA_QUEUE]) {
				drop = i;
				break;
			}
		}
		for (unsigned i = drop; i > 0; i--) {
			unsigned to = (o->q_head + i) % TFA_OTA_QUEUE;
			unsigned from = (o->q_head + i - 1) % TFA_OTA_QUEUE;
			memcpy(o->q[to], o->q[from], TFP_REPORT_WIRE_MAX);
			o->q_len[to] = o->q_len[from];
			o->q_result[to] = o->q_result[from];
		}
		o->q_head = (o->q_head + 1) % TFA_OTA_QUEUE;
		o->q_count--;
		o->stats.reports_dropped++;
	}
	slot = (o->q_head + o->q_count) % TFA_OTA_QUEUE;
	if (tfp_report_encode(r, o->q[slot], TFP_REPORT_WIRE_MAX, &len) != 0)
		return;   /* cannot happen with valid enums; a bug would only lose a report */
	o->q_len[slot] = (uint8_t)len;
	o->q_result[slot] = r->type == TFP_MSG_RESULT;
	o->q_count++;
	queue_flush(o);
}

static void
report_progress(struct tfa_ota *o, uint64_t cmd, enum tfp_phase phase, uint32_t done,
                uint32_t total)
{
	struct tfp_report r;

	memset(&r, 0, sizeof(r));
	r.type = TFP_MSG_PROGRESS;
	r.command_id = cmd;
	r.phase = phase;
	r.has_bytes = true;
	r.bytes_done = done <= total ? done : total;
	r.bytes_total = total;
	queue_push(o, &r);
}

static void
report_result(struct tfa_ota *o, uint64_t cmd, enum tfp_phase phase, enum tfp_outcome out,
              enum tfp_reason reason, int err)
{
	struct tfp_report r;

	memset(&r, 0, sizeof(r));
	r.type = TFP_MSG_RESULT;
	r.command_id = cmd;
	r.phase = phase;
	r.outcome = out;
	r.reason = reason;
	if (err < 0) {
		r.has_error = true;
		r.error = err;
	}
	queue_push(o, &r);
}

/* ---- command bookkeeping --------------------------------------------------------------- */

static const struct tfa_ota_done *
done_find(const struct tfa_ota *o, uint64_t cmd)
{
	for (unsigned i = 0; i < TFA_OTA_DONE_MAX; i++)
		if (o->meta.done[i].used && o->meta.done[i].command_id == cmd)
			return &o->meta.done[i];
	return NULL;
}

static void
done_add(struct tfa_ota *o, uint64_t cmd, enum tfp_phase phase, enum tfp_outcome out,
         enum tfp_reason reason, int err)
{
	struct tfa_ota_done *d = &o->meta.done[o->meta.done_next % TFA_OTA_DONE_MAX];

	d->command_id = cmd;
	d->used = 1;
	d->phase = (uint8_t)phase;
	d->outcome = (uint8_t)out;
	d->reason = (uint8_t)reason;
	d->error = err;
	o->meta.done_next = (uint8_t)((o->meta.done_next + 1) % TFA_OTA_DONE_MAX);
}

/* Ends the job durably with a result (the slot metadata is set by the caller). */
static int
job_end(struct tfa_ota *o, enum tfp_phase phase, enum tfp_outcome out, enum tfp_reason reason,
        int err)
{
	uint64_t cmd = o->meta.job.command_id;
	int rc;

	o->run = TFA_OTA_RUN_IDLE;
	memset(&o->meta.job, 0, sizeof(o->meta.job));
	done_add(o, cmd, phase, out, reason, err);
	if ((rc = tfa__meta_store(o)) != 0)
		return rc;     /* not durable (power lost): report nothing that did not happen */
	report_result(o, cmd, phase, out, reason, err);
	return 0;
}

static int
open_active(struct tfa_ota *o)
{
	return tfa__slot_valid(o, o->meta.active, &o->model) ? 0 : TFA_ERR_NO_MODEL;
}

/* ---- revert, confirm, self-test --------------------------------------------------------- */

static int
revert(struct tfa_ota *o, enum tfp_phase phase, enum tfp_reason reason, int err)
{
	unsigned t = o->meta.job.slot;
	int rc;

	o->meta.slot[t].state = TFP_SLOT_FAILED;
	o->meta.active = (uint8_t)(t ^ 1u);
	if ((rc = job_end(o, phase, TFP_OUTCOME_REVERTED, reason, err)) != 0)
		return rc;
	o->stats.reverts++;
	return open_active(o);
}

static int
activate_and_test(struct tfa_ota *o)
{
	struct tfa_ota_job *j = &o->meta.job;
	unsigned t = j->slot;
	uint64_t cmd = j->command_id, seq = j->target.sequence;
	struct tfa_model m;
	const uint8_t *img;
	float max_err = 0.0f;
	struct tfp_tensor tv;
	int rc;

	/* Activate: one write makes the new slot active and PENDING. */
	o->meta.slot[t] = j->target;
	o->meta.slot[t].state = TFP_SLOT_PENDING;
	o->meta.active = (uint8_t)t;
	j->stage = TFA_OTA_JOB_TEST;
	if ((rc = tfa__meta_store(o)) != 0)
		return rc;
	report_progress(o, cmd, TFP_PHASE_ACTIVATE, j->target.size, j->target.size);

	/* Self-test: the container's test vectors through the runtime, weights in place. */
	img = o->port->flash_map(o->port->ctx, tfa__slot_base(o, t), j->target.size);
	if (img == NULL)
		return revert(o, TFP_PHASE_SELFTEST, TFP_REASON_FLASH_ERROR, TFA_ERR_FLASH);
	if ((rc = tfa_model_open(&m, img, j->target.size)) != 0)
		return revert(o, TFP_PHASE_SELFTEST, TFP_REASON_BAD_CONTAINER, rc);
	if (tfa_model_arena(&m) > o->arena_len)
		return revert(o, TFP_PHASE_SELFTEST, TFP_REASON_NO_RAM, TFA_ERR_ARENA);
	if (tfp_container_find(&m.c, TFP_KIND_TEST_IN, &tv) != 0)
		return revert(o, TFP_PHASE_SELFTEST, TFP_REASON_BAD_CONTAINER, TFP_ERR_CONTAINER);
	if ((rc = tfa_selftest(&m, o->arena, o->arena_len, &max_err)) != 0)
		return revert(o, TFP_PHASE_SELFTEST, TFP_REASON_SELFTEST_FAILED, rc);
	report_progress(o, cmd, TFP_PHASE_SELFTEST, j->target.size, j->target.size);

	/* Confirm: the metadata first (with the floor to hold), then the counter. */
	o->meta.slot[t].state = TFP_SLOT_CONFIRMED;
	if (seq > o->meta.floor)
		o->meta.floor = seq;
	if ((rc = job_end(o, TFP_PHASE_CONFIRM, TFP_OUTCOME_OK, TFP_REASON_CONFIRMED, 0)) != 0)
		return rc;
	o->stats.confirms++;
	if (o->port->counter_raise(o->port->ctx, TFA_COUNTER_FLOOR, o->meta.floor) != 0)
		return TFA_ERR_COUNTER;
	o->floor = o->meta.floor;
	o->model = m;
	return 0;
}

/* Verify the rebuilt image in flash against the signed digest, then activate. */
static int
verify_and_activate(struct tfa_ota *o)
{
	struct tfa_ota_job *j = &o->meta.job;
	uint8_t d[TFP_DIGEST_LEN];
	int rc;

	o->run = TFA_OTA_RUN_IDLE;
	if ((rc = tfa__slot_digest(o, j->slot, j->target.size, d)) != 0)
		return rc;
	if (memcmp(d, j->target.digest, sizeof(d)) != 0)
		return job_end(o, TFP_PHASE_VERIFY, TFP_OUTCOME_FAILED, TFP_REASON_DIGEST_MISMATCH,
		               0);
	report_progress(o, j->command_id, TFP_PHASE_VERIFY, j->target.size, j->target.size);
	return activate_and_test(o);
}

/* ---- fetch ---------------------------------------------------------------------------- */

static void
send_request(struct tfa_ota *o)
{
	const struct tfa_port *p = o->port;
	struct tfp_chunk_request q;
	uint8_t buf[TFP_CHUNK_REQUEST_WIRE_MAX];
	uint32_t left = o->meta.job.object_size - o->next_off;
	size_t len;

	memset(&q, 0, sizeof(q));
	q.command_id = o->meta.job.command_id;
	memcpy(q.object_id, o->meta.job.object_id, TFP_DIGEST_LEN);
	q.offset = o->next_off;
	q.length = left < o->chunk ? left : o->chunk;
	o->req_at = p->clock_ms(p->ctx);
	o->stats.requests++;
	if (tfp_chunk_request_encode(&q, buf, sizeof(buf), &len) != 0)
		return;
	(void)p->send(p->ctx, TFA_CHAN_CHUNK_REQ, buf, len);   /* offline: the timer re-asks */
}

static int
fetch_fail(struct tfa_ota *o, enum tfp_phase phase, enum tfp_reason reason, int err)
{
	/* The target slot is EMPTY already (step 1); the job ends. */
	return job_end(o, phase, TFP_OUTCOME_FAILED, reason, err);
}

/* Starts or resumes pulling the job's object (RAM state only, nothing written). */
static int
fetch_start(struct tfa_ota *o, uint32_t chunk)
{
	struct tfa_ota_job *j = &o->meta.job;
	uint32_t old_size = o->meta.slot[o->meta.active].size;
	int rc;

	o->image_size = j->target.size;
	o->chunk = chunk == 0 || chunk > TFA_OTA_CHUNK_MAX ? TFA_OTA_CHUNK_MAX : chunk;
	tfa__wr_start(o, j->out_off);
	if (j->fetch != TFP_FETCH_FULL) {
		if (j->out_off > 0)
			rc = tfp_delta_apply_resume(&o->delta, j->ckpt, old_size, tfa__read_old,
			                            tfa__wr_write, o);
		else
			rc = tfp_delta_apply_init(&o->delta, old_size, tfa__read_old, tfa__wr_write,
			                          o);
		if (rc != 0)
			return fetch_fail(o, TFP_PHASE_APPLY,
			                  rc == TFP_ERR_DELTA_OLD_SIZE ? TFP_REASON_DELTA_BASE_MISMATCH
			                                               : TFP_REASON_DELTA_CORRUPT,
			                  rc);
	}
	o->next_off = j->resume_off;
	o->last_progress = o->next_off;
	o->tries = 0;
	o->win_start = o->port->clock_ms(o->port->ctx);
	o->win_bytes = 0;
	o->run = TFA_OTA_RUN_FETCH;
	report_progress(o, j->command_id, TFP_PHASE_FETCH, o->next_off, j->object_size);
	send_request(o);
	return 0;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Persists a resume point when the durable output moved far enough. */
static int
maybe_checkpoint(struct tfa_ota *o)
{
	struct tfa_ota_job *j = &o->meta.job;
	uint32_t durable = o->wr_off - o->pb_fill, ps = o->port->flash.page_size;
	uint8_t blob[TFP_DELTA_CKPT_LEN];
	uint32_t out, patch;

	if (j->fetch == TFP_FETCH_FULL) {
		if (durable < j->out_off + TFA_OTA_CKPT_BYTES || durable % ps != 0)
			return 0;
		out = patch = durable;
	} else {
		if (tfp_delta_apply_checkpoint(&o->delta, blob) != 0)
			return 0;
		patch = get32(blob + 12);
		out = get32(blob + 16);
		if (out <= j->out_off || out % ps != 0 || out > durable)
			return 0;
		if (out < j->out_off + TFA_OTA_CKPT_BYTES && out != o->image_size)
			return 0;
		memcpy(j->ckpt, blob, sizeof(blob));
	}
	j->out_off = out;
	j->resume_off = patch;
	return tfa__meta_store(o);
}

static int
on_chunk(struct tfa_ota *o, const uint8_t *buf, size_t len)
{
	struct tfa_ota_job *j = &o->meta.job;
	struct tfp_chunk_response r;
	int rc;

	if (o->run != TFA_OTA_RUN_FETCH || tfp_chunk_response_decode(buf, len, &r) != 0 ||
	    memcmp(r.object_id, j->object_id, TFP_DIGEST_LEN) != 0) {
		o->stats.stale++;
		return 0;
	}
	if (r.total != j->object_size)
		return fetch_fail(o, TFP_PHASE_FETCH,
		                  r.total > j->object_size ? TFP_REASON_SIZE_EXCEEDS_SIGNED
		                                           : TFP_REASON_BAD_CHUNK,
		                  0);
	if (r.offset != o->next_off || r.len == 0) {
		o->stats.stale++;     /* a late answer to an earlier request */
		return 0;
	}
	o->stats.responses++;
	o->tries = 0;
	o->next_off += (uint32_t)r.len;
	o->win_bytes += (uint32_t)r.len;
	if (j->fetch == TFP_FETCH_FULL) {
		rc = tfa__wr_write(o, r.offset, r.data, (uint32_t)r.len);
	} else {
		rc = tfp_delta_apply_feed(&o->delta, r.data, r.len);
		if (rc >= 0 && tfp_delta_apply_new_size(&o->delta) != 0 &&
		    tfp_delta_apply_new_size(&o->delta) != j->target.size)
			return fetch_fail(o, TFP_PHASE_APPLY,
			                  tfp_delta_apply_new_size(&o->delta) > j->target.size
			                          ? TFP_REASON_SIZE_EXCEEDS_SIGNED
			                          : TFP_REASON_OFFER_MISMATCH,
			                  0);
	}
	if (o->wr_failed)
		return TFA_ERR_FLASH;
	if (o->wr_overflow)
		return fetch_fail(o, TFP_PHASE_APPLY, TFP_REASON_SIZE_EXCEEDS_SIGNED, 0);
	if (rc < 0)
		return fetch_fail(o, TFP_PHASE_APPLY,
		                  rc == TFP_ERR_DELTA_OLD_SIZE
		                          ? TFP_REASON_DELTA_BASE_MISMATCH
		                          : tfp_reason_from_err(rc, TFP_REASON_DELTA_CORRUPT),
		                  rc);
	if ((rc = maybe_checkpoint(o)) != 0)
		return rc;
	if (o->next_off - o->last_progress >= o->cfg.progress_every) {
		o->last_progress = o->next_off;
		report_progress(o, j->command_id, TFP_PHASE_FETCH, o->next_off, j->object_size);
	}
	if (o->next_off < j->object_size) {
		send_request(o);
		return 0;
	}
	/* The whole object is here. */
	if (j->fetch != TFP_FETCH_FULL &&
	    (rc = tfp_delta_apply_finish(&o->delta)) != 0)
		return fetch_fail(o, TFP_PHASE_APPLY, TFP_REASON_DELTA_CORRUPT, rc);
	if ((rc = tfa__wr_finish(o)) != 0)
		return rc;
	if (o->wr_off != j->target.size)
		return fetch_fail(o, TFP_PHASE_APPLY, TFP_REASON_OFFER_MISMATCH, 0);
	report_progress(o, j->command_id, TFP_PHASE_APPLY, o->wr_off, j->target.size);
	return verify_and_activate(o);
}

/* ---- offers ---------------------------------------------------------------------------- */

static bool
abi_fits(uint32_t need, uint32_t have)
{
	return (need >> 16) == (have >> 16) && (need & 0xffffu) <= (have & 0xffffu);
}

/* Device fit and offer consistency; TFP_REASON_OK when the offer can go ahead. */
static enum tfp_reason
check_fit(const struct tfa_ota *o, const struct tfp_manifest *m,
          const struct tfp_update_offer *u)
{
	const struct tfa_device_profile *d = o->cfg.device;
	const struct tfa_ota_slot *act = &o->meta.slot[o->meta.active];
	uint64_t slot = tfa__slot_bytes(o);

	if (m->sequence <= o->floor)
		return TFP_REASON_SEQUENCE_TOO_LOW;
	if (strcmp(m->device_class, d->device_class) != 0)
		return TFP_REASON_WRONG_CLASS;
	if (m->req.min_ram > d->ram_bytes || m->req.min_ram > o->arena_len)
		return TFP_REASON_NO_RAM;
	if (m->image_size == 0 || m->image_size > slot || m->req.min_flash > slot)
		return TFP_REASON_NO_FLASH;
	for (size_t i = 0; i < m->req.n_sensors; i++) {
		size_t k = 0;
		while (k < d->n_sensors && strcmp(d->sensors[k], m->req.sensors[i]) != 0)
			k++;
		if (k == d->n_sensors)
			return TFP_REASON_MISSING_SENSOR;
	}
	if (!abi_fits(m->req.agent_abi, d->agent_abi))
		return TFP_REASON_ABI_MISMATCH;
	switch (u->fetch) {
	case TFP_FETCH_FULL:
		if (u->object_size > m->image_size)
			return TFP_REASON_SIZE_EXCEEDS_SIGNED;
		if (u->object_size != m->image_size ||
		    memcmp(u->object_id, m->digest, TFP_DIGEST_LEN) != 0)
			return TFP_REASON_OFFER_MISMATCH;
		break;
	case TFP_FETCH_DELTA:
		if (memcmp(u->base_digest, act->digest, TFP_DIGEST_LEN) != 0)
			return TFP_REASON_DELTA_BASE_MISMATCH;
		/* fall through */
	case TFP_FETCH_PACKED:
		if (u->object_size > TFA_OTA_PATCH_MAX(m->image_size))
			return TFP_REASON_SIZE_EXCEEDS_SIGNED;
		break;
	}
	return TFP_REASON_OK;
}

static bool
job_matches(const struct tfa_ota_job *j, const struct tfp_update_offer *u,
            const uint8_t hash[TFP_DIGEST_LEN])
{
	return j->stage == TFA_OTA_JOB_FETCH && memcmp(j->manifest_hash, hash, TFP_DIGEST_LEN) == 0 &&
	       j->fetch == (uint8_t)u->fetch && j->object_size == u->object_size &&
	       memcmp(j->object_id, u->object_id, TFP_DIGEST_LEN) == 0;
}

static int
on_offer(struct tfa_ota *o, uint64_t cmd, const struct tfp_update_offer *u)
{
	struct tfa_ota_job *j = &o->meta.job;
	unsigned t = o->meta.active ^ 1u;
	struct tfp_manifest m;
	uint8_t hash[TFP_DIGEST_LEN];
	uint64_t now;
	enum tfp_reason why;
	int rc;

	if (o->run == TFA_OTA_RUN_FETCH) {
		if (cmd == j->command_id) {
			send_request(o);     /* a re-sent offer: nudge the download */
			return 0;
		}
		report_result(o, cmd, TFP_PHASE_CHECK, TFP_OUTCOME_REFUSED, TFP_REASON_BUSY, 0);
		return 0;
	}
	if (mbedtls_sha256_ret(u->manifest, u->manifest_len, hash, 0) != 0) {
		report_result(o, cmd, TFP_PHASE_CHECK, TFP_OUTCOME_REFUSED, TFP_REASON_INTERNAL,
		              TFP_ERR_CRYPTO);
		return 0;
	}
	/* An interrupted download of the same manifest and object: resume it. */
	if (job_matches(j, u, hash)) {
		j->command_id = cmd;
		return fetch_start(o, u->chunk_size);
	}

	report_progress(o, cmd, TFP_PHASE_CHECK, 0, 0);
	o->stats.verifies++;
	now = o->port->time_unix(o->port->ctx);
	if (o->cfg.verify_manifest != NULL)
		rc = o->cfg.verify_manifest(o->cfg.user, u->manifest, u->manifest_len, o->cfg.keys,
		                            o->cfg.n_keys, now, &m);
	else
		rc = tfp_manifest_verify(u->manifest, u->manifest_len, o->cfg.keys, o->cfg.n_keys,
		                         now, &m);
	if (rc != 0) {
		report_result(o, cmd, TFP_PHASE_CHECK, TFP_OUTCOME_REFUSED,
		              tfp_reason_from_err(rc, TFP_REASON_BAD_MANIFEST), rc);
		return 0;
	}
	if ((why = check_fit(o, &m, u)) != TFP_REASON_OK) {
		report_result(o, cmd, TFP_PHASE_CHECK, TFP_OUTCOME_REFUSED, why, 0);
		return 0;
	}

	/* Accepted: a new job replaces any interrupted one. */
	memset(j, 0, sizeof(*j));
	j->command_id = cmd;
	j->slot = (uint8_t)t;
	j->fetch = (uint8_t)u->fetch;
	j->object_size = u->object_size;
	memcpy(j->object_id, u->object_id, TFP_DIGEST_LEN);
	memcpy(j->base_digest, u->base_digest, TFP_DIGEST_LEN);
	memcpy(j->manifest_hash, hash, TFP_DIGEST_LEN);
	j->target.sequence = m.sequence;
	j->target.size = (uint32_t)m.image_size;
	memcpy(j->target.digest, m.digest, TFP_DIGEST_LEN);
	memcpy(j->target.name, m.name, sizeof(j->target.name));
	memcpy(j->target.version, m.version, sizeof(j->target.version));
	j->min_ram = m.req.min_ram;

	/* The spare slot may already hold this very image (an earlier attempt that was
	 * reverted after a power loss): then only the digest needs checking again. */
	if (o->meta.slot[t].state != TFP_SLOT_EMPTY && o->meta.slot[t].size == m.image_size &&
	    memcmp(o->meta.slot[t].digest, m.digest, TFP_DIGEST_LEN) == 0) {
		uint8_t d[TFP_DIGEST_LEN];
		if ((rc = tfa__slot_digest(o, t, j->target.size, d)) != 0)
			return rc;
		if (memcmp(d, m.digest, sizeof(d)) == 0) {
			j->stage = TFA_OTA_JOB_FETCH;
			report_progress(o, cmd, TFP_PHASE_VERIFY, j->target.size, j->target.size);
			return activate_and_test(o);
		}
	}
	j->stage = TFA_OTA_JOB_FETCH;
	memset(&o->meta.slot[t], 0, sizeof(o->meta.slot[t]));   /* EMPTY before any erase */
	if ((rc = tfa__meta_store(o)) != 0)
		return rc;
	return fetch_start(o, u->chunk_size);
}

static int
on_rollback(struct tfa_ota *o, uint64_t cmd)
{
	unsigned prev = o->meta.active ^ 1u;
	struct tfa_model m;
	int rc;

	if (o->run == TFA_OTA_RUN_FETCH) {
		report_result(o, cmd, TFP_PHASE_ROLLBACK, TFP_OUTCOME_REFUSED, TFP_REASON_BUSY, 0);
		return 0;
	}
	if (o->meta.slot[prev].state != TFP_SLOT_CONFIRMED || !tfa__slot_valid(o, prev, &m)) {
		report_result(o, cmd, TFP_PHASE_ROLLBACK, TFP_OUTCOME_REFUSED,
		              TFP_REASON_NO_PREVIOUS_SLOT, 0);
		return 0;
	}
	o->meta.active = (uint8_t)prev;
	done_add(o, cmd, TFP_PHASE_ROLLBACK, TFP_OUTCOME_OK, TFP_REASON_ROLLED_BACK, 0);
	if ((rc = tfa__meta_store(o)) != 0)
		return rc;
	o->stats.rollbacks++;
	o->model = m;
	report_result(o, cmd, TFP_PHASE_ROLLBACK, TFP_OUTCOME_OK, TFP_REASON_ROLLED_BACK, 0);
	return 0;
}

/* All or nothing; the change and the command id in one metadata write (idempotent). */
static int
on_config(struct tfa_ota *o, uint64_t cmd, const struct tfp_config *c)
{
	int rc;

	if (tfa_settings_check(c, NULL) != TFP_REASON_OK) {
		report_result(o, cmd, TFP_PHASE_CONFIG, TFP_OUTCOME_REFUSED,
		              TFP_REASON_CONFIG_REFUSED, TFP_ERR_RANGE);
		return 0;
	}
	tfa_settings_merge(&o->meta.settings, c);
	done_add(o, cmd, TFP_PHASE_CONFIG, TFP_OUTCOME_OK, TFP_REASON_CONFIG_APPLIED, 0);
	if ((rc = tfa__meta_store(o)) != 0)
		return rc;
	o->stats.configs++;
	if (o->cfg.on_settings != NULL)
		o->cfg.on_settings(o->cfg.user, &o->meta.settings);
	report_result(o, cmd, TFP_PHASE_CONFIG, TFP_OUTCOME_OK, TFP_REASON_CONFIG_APPLIED, 0);
	return 0;
}

static int
on_command(struct tfa_ota *o, const uint8_t *buf, size_t len)
{
	struct tfp_command c;
	const struct tfa_ota_done *d;
	int rc;

	if ((rc = tfp_command_decode(buf, len, &c)) != 0) {
		/* The command id is unknown when the message does not decode: report id 0. */
		report_result(o, 0, TFP_PHASE_CHECK, TFP_OUTCOME_REFUSED,
		              rc == TFP_ERR_UNKNOWN_MESSAGE ? TFP_REASON_UNKNOWN_COMMAND
		                                           : TFP_REASON_MALFORMED,
		              rc);
		return 0;
	}
	if ((d = done_find(o, c.command_id)) != NULL) {
		o->stats.duplicates++;
		report_result(o, c.command_id, (enum tfp_phase)d->phase, TFP_OUTCOME_REFUSED,
		              TFP_REASON_DUPLICATE, 0);
		return 0;
	}
	switch (c.type) {
	case TFP_MSG_UPDATE:
		return on_offer(o, c.command_id, &c.u.update);
	case TFP_MSG_ROLLBACK:
		return on_rollback(o, c.command_id);
	case TFP_MSG_CONFIG:
		return on_config(o, c.command_id, &c.u.config);
	default:
		report_result(o, c.command_id, TFP_PHASE_CONFIG, TFP_OUTCOME_REFUSED,
		              TFP_REASON_UNKNOWN_COMMAND, 0);
		return 0;
	}
}

/* ---- public API ------------------------------------------------------------------------ */

int
tfa_ota_init(struct tfa_ota *o, const struct tfa_port *port, const struct tfa_ota_config *cfg,
             uint8_t *arena, size_t arena_len)
{
	uint64_t counter = 0;
	unsigned act;
	int rc;

	if (o == NULL || port == NULL || cfg == NULL || cfg->device == NULL ||
	    (cfg->keys == NULL && cfg->n_keys > 0) || port->flash_map == NULL)
		return TFP_ERR_ARG;
	if ((rc = tfa__check_geometry(port, cfg)) != 0)
		return rc;
	memset(o, 0, sizeof(*o));
	o->port = port;
	o->cfg = *cfg;
	if (o->cfg.chunk_timeout_ms == 0)
		o->cfg.chunk_timeout_ms = 2000;
	if (o->cfg.chunk_retries == 0)
		o->cfg.chunk_retries = 5;
	if (o->cfg.speed_window_ms == 0)
		o->cfg.speed_window_ms = 10000;
	if (o->cfg.progress_every == 0)
		o->cfg.progress_every = 4096;
	o->arena = arena;
	o->arena_len = arena != NULL ? arena_len : 0;
	if ((rc = tfa__meta_load(o)) != 0)
		return rc;

	/* A confirm that lost power between its metadata write and the counter. */
	if (port->counter_read(port->ctx, TFA_COUNTER_FLOOR, &counter) != 0)
		return TFA_ERR_COUNTER;
	if (o->meta.floor > counter) {
		if (port->counter_raise(port->ctx, TFA_COUNTER_FLOOR, o->meta.floor) != 0)
			return TFA_ERR_COUNTER;
		counter = o->meta.floor;
	}
	o->floor = counter;

	/* Activated but never confirmed: revert (crash or power loss during the self-test). */
	if (o->meta.job.stage == TFA_OTA_JOB_TEST) {
		unsigned t = o->meta.job.slot;
		o->meta.slot[t].state = TFP_SLOT_FAILED;
		o->meta.active = (uint8_t)(t ^ 1u);
		if ((rc = job_end(o, TFP_PHASE_SELFTEST, TFP_OUTCOME_REVERTED,
		                  TFP_REASON_CRASH_BEFORE_CONFIRM, 0)) != 0)
			return rc;
		o->stats.reverts++;
	}

	/* Run a valid confirmed model: the active one, else the other. */
	act = o->meta.active;
	if (o->meta.slot[act].state == TFP_SLOT_CONFIRMED && tfa__slot_valid(o, act, &o->model))
		return 0;
	act ^= 1u;
	if (o->meta.slot[act].state == TFP_SLOT_CONFIRMED && tfa__slot_valid(o, act, &o->model)) {
		if (o->meta.job.stage == TFA_OTA_JOB_FETCH && o->meta.job.slot == act)
			memset(&o->meta.job, 0, sizeof(o->meta.job));
		o->meta.active = (uint8_t)act;
		return tfa__meta_store(o);
	}
	return TFA_ERR_NO_MODEL;
}

int
tfa_ota_handle(struct tfa_ota *o, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	if (o == NULL || (buf == NULL && len > 0))
		return TFP_ERR_ARG;
	if (ch == TFA_CHAN_CMD)
		return on_command(o, buf, len);
	if (ch == TFA_CHAN_CHUNK_RESP)
		return on_chunk(o, buf, len);
	return 0;
}

int
tfa_ota_poll(struct tfa_ota *o)
{
	const struct tfa_port *p = o->port;
	enum tfa_chan ch;
	size_t len;
	uint64_t now;
	int rc;

	while (p->recv != NULL && p->recv(p->ctx, &ch, o->rx, sizeof(o->rx), &len) == 1)
		if ((rc = tfa_ota_handle(o, ch, o->rx, len)) != 0)
			return rc;
	queue_flush(o);
	if (o->run != TFA_OTA_RUN_FETCH)
		return 0;
	now = p->clock_ms(p->ctx);
	if (o->cfg.speed_floor_bps > 0 && now - o->win_start >= o->cfg.speed_window_ms) {
		uint64_t need = (uint64_t)o->cfg.speed_floor_bps * (now - o->win_start) / 1000u;
		if (o->win_bytes < need)
			return fetch_fail(o, TFP_PHASE_FETCH, TFP_REASON_DOWNLOAD_TOO_SLOW, 0);
		o->win_start = now;
		o->win_bytes = 0;
	}
	if (now - o->req_at >= o->cfg.chunk_timeout_ms) {
		if (++o->tries > o->cfg.chunk_retries)
			return fetch_fail(o, TFP_PHASE_FETCH, TFP_REASON_DOWNLOAD_STALLED, 0);
		send_request(o);
	}
	return 0;
}

const struct tfa_settings *
tfa_ota_settings(const struct tfa_ota *o)
{
	return &o->meta.settings;
}

bool
tfa_ota_busy(const struct tfa_ota *o)
{
	return o->run == TFA_OTA_RUN_FETCH;
}

const struct tfa_model *
tfa_ota_model(const struct tfa_ota *o)
{
	return &o->model;
}

void
tfa_ota_fill_state(const struct tfa_ota *o, struct tfp_state *s)
{
	for (unsigned i = 0; i < TFP_SLOTS; i++) {
		const struct tfa_ota_slot *m = &o->meta.slot[i];
		struct tfp_slot *d = &s->slots[i];
		memset(d, 0, sizeof(*d));
		d->state = (enum tfp_slot_state)m->state;
		if (m->state == TFP_SLOT_EMPTY)
			continue;
		d->sequence = m->sequence;
		memcpy(d->model, m->name, sizeof(d->model));
		memcpy(d->version, m->version, sizeof(d->version));
		memcpy(d->digest, m->digest, sizeof(d->digest));
	}
	s->active_slot = o->meta.active;
	s->has_command = o->meta.job.stage != TFA_OTA_JOB_IDLE;
	s->command_id = o->meta.job.command_id;
}

const char *
tfa_ota_strerror(int err)
{
	return tfa_strerror(err);
}
