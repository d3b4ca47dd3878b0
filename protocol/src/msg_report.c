/* Progress/result report codecs and reason codes. See tinyfleet/protocol/msg_report.h. */
#include "tinyfleet/protocol/msg_report.h"

#include <string.h>

#include "tinyfleet/protocol/cbor_io.h"
#include "msg_map.h"

_Static_assert(sizeof(struct tfp_report) <= TFP_REPORT_STRUCT_MAX,
               "struct tfp_report outgrew its documented RAM budget");

enum {
	K_TYPE = 0, K_COMMAND = 1, K_PHASE = 2, K_DONE = 3, K_TOTAL = 4, K_OUTCOME = 5,
	K_REASON = 6, K_ERROR = 7,
};
#define BYTES (TFP__BIT(K_DONE) | TFP__BIT(K_TOTAL))
#define PROGRESS_KEYS (TFP__BIT(K_TYPE) | TFP__BIT(K_COMMAND) | TFP__BIT(K_PHASE) | BYTES)
#define RESULT_REQUIRED (TFP__BIT(K_TYPE) | TFP__BIT(K_COMMAND) | TFP__BIT(K_PHASE) |     \
                         TFP__BIT(K_OUTCOME) | TFP__BIT(K_REASON))
#define RESULT_ALLOWED (RESULT_REQUIRED | BYTES | TFP__BIT(K_ERROR))

const char *
tfp_reason_str(int reason)
{
	switch (reason) {
	case TFP_REASON_OK: return "ok";
	case TFP_REASON_CONFIRMED: return "update confirmed";
	case TFP_REASON_ROLLED_BACK: return "rolled back to previous slot";
	case TFP_REASON_CONFIG_APPLIED: return "configuration applied";
	case TFP_REASON_BAD_SIGNATURE: return "bad manifest signature";
	case TFP_REASON_UNKNOWN_KEY: return "manifest signed by unknown key";
	case TFP_REASON_EXPIRED: return "manifest expired";
	case TFP_REASON_SEQUENCE_TOO_LOW: return "sequence not above anti-rollback floor";
	case TFP_REASON_WRONG_CLASS: return "wrong device class";
	case TFP_REASON_NO_RAM: return "not enough RAM";
	case TFP_REASON_NO_FLASH: return "not enough flash";
	case TFP_REASON_MISSING_SENSOR: return "missing sensor";
	case TFP_REASON_ABI_MISMATCH: return "agent ABI mismatch";
	case TFP_REASON_BAD_MANIFEST: return "malformed or unsupported manifest";
	case TFP_REASON_OFFER_MISMATCH: return "offer disagrees with manifest";
	case TFP_REASON_SIZE_EXCEEDS_SIGNED: return "size exceeds the signed size";
	case TFP_REASON_DOWNLOAD_TOO_SLOW: return "download too slow";
	case TFP_REASON_DOWNLOAD_STALLED: return "download stalled";
	case TFP_REASON_BAD_CHUNK: return "chunk for another object or range";
	case TFP_REASON_DIGEST_MISMATCH: return "image digest mismatch";
	case TFP_REASON_DELTA_CORRUPT: return "delta patch corrupt";
	case TFP_REASON_DELTA_BASE_MISMATCH: return "delta base not on device";
	case TFP_REASON_FLASH_ERROR: return "flash write or erase error";
	case TFP_REASON_BAD_CONTAINER: return "malformed or unsupported model container";
	case TFP_REASON_SELFTEST_FAILED: return "self-test failed";
	case TFP_REASON_CRASH_BEFORE_CONFIRM: return "reverted after reboot before confirm";
	case TFP_REASON_NO_PREVIOUS_SLOT: return "no previous slot to roll back to";
	case TFP_REASON_BUSY: return "busy with another update";
	case TFP_REASON_DUPLICATE: return "duplicate command (already done)";
	case TFP_REASON_MALFORMED: return "malformed message";
	case TFP_REASON_UNKNOWN_COMMAND: return "unknown command";
	case TFP_REASON_INTERNAL: return "internal device error";
	case TFP_REASON_CONFIG_REFUSED: return "config value not accepted by the device";
	}
	return "unknown reason";
}

bool
tfp_reason_is_known(int reason)
{
	/* Every defined value has its own string; the fallback string marks the rest. */
	return strcmp(tfp_reason_str(reason), "unknown reason") != 0;
}

bool
tfp_reason_is_success(int reason)
{
	return reason >= 0 && reason <= 15 && tfp_reason_is_known(reason);
}

enum tfp_reason
tfp_reason_from_err(int err, enum tfp_reason fallback)
{
	switch (err) {
	case TFP_OK: return TFP_REASON_OK;
	case TFP_ERR_BAD_SIGNATURE: return TFP_REASON_BAD_SIGNATURE;
	case TFP_ERR_UNKNOWN_KEY: return TFP_REASON_UNKNOWN_KEY;
	case TFP_ERR_EXPIRED: return TFP_REASON_EXPIRED;
	case TFP_ERR_BAD_TAG:
	case TFP_ERR_BAD_HEADER:
	case TFP_ERR_UNSUPPORTED_ALG:
	case TFP_ERR_NO_PAYLOAD: return TFP_REASON_BAD_MANIFEST;
	case TFP_ERR_CONTAINER:
	case TFP_ERR_CONTAINER_VERSION: return TFP_REASON_BAD_CONTAINER;
	case TFP_ERR_DELTA:
	case TFP_ERR_DELTA_VERSION: return TFP_REASON_DELTA_CORRUPT;
	case TFP_ERR_UNKNOWN_MESSAGE: return TFP_REASON_UNKNOWN_COMMAND;
	case TFP_ERR_INTERNAL:
	case TFP_ERR_ARG:
	case TFP_ERR_KEY:
	case TFP_ERR_CRYPTO: return TFP_REASON_INTERNAL;
	}
	return fallback;
}

/* Shared by encoder and decoder: the rules that span fields. */
static int
consistent(const struct tfp_report *r)
{
	if (r->has_bytes && r->bytes_done > r->bytes_total)
		return TFP_ERR_RANGE;
	if (r->type == TFP_MSG_RESULT &&
	    (r->outcome == TFP_OUTCOME_OK) != tfp_reason_is_success((int)r->reason))
		return TFP_ERR_RANGE;
	return 0;
}

int
tfp_report_encode(const struct tfp_report *r, uint8_t *buf, size_t cap, size_t *len)
{
	struct tfp_cbor_writer w;
	bool result = r->type == TFP_MSG_RESULT;
	size_t pairs;

	if (r->type != TFP_MSG_PROGRESS && !result)
		return TFP_ERR_ARG;
	if ((unsigned)r->phase > TFP_PHASE_MAX || consistent(r) != 0)
		return TFP_ERR_ARG;
	if (!result && !r->has_bytes)
		return TFP_ERR_ARG;
	if (result && ((unsigned)r->outcome > TFP_OUTCOME_MAX ||
	               !tfp_reason_is_known((int)r->reason) ||
	               (r->has_error && r->error >= 0)))
		return TFP_ERR_ARG;
	pairs = 3 + (r->has_bytes ? 2 : 0) + (result ? 2 + r->has_error : 0);
	tfp_cbor_writer_init(&w, buf, cap);
	tfp_cbor_put_map(&w, pairs);
	tfp_cbor_put_uint(&w, K_TYPE);
	tfp_cbor_put_uint(&w, (uint64_t)r->type);
	tfp_cbor_put_uint(&w, K_COMMAND);
	tfp_cbor_put_uint(&w, r->command_id);
	tfp_cbor_put_uint(&w, K_PHASE);
	tfp_cbor_put_uint(&w, (uint64_t)r->phase);
	if (r->has_bytes) {
		tfp_cbor_put_uint(&w, K_DONE);
		tfp_cbor_put_uint(&w, r->bytes_done);
		tfp_cbor_put_uint(&w, K_TOTAL);
		tfp_cbor_put_uint(&w, r->bytes_total);
	}
	if (result) {
		tfp_cbor_put_uint(&w, K_OUTCOME);
		tfp_cbor_put_uint(&w, (uint64_t)r->outcome);
		tfp_cbor_put_uint(&w, K_REASON);
		tfp_cbor_put_uint(&w, (uint64_t)r->reason);
		if (r->has_error) {
			tfp_cbor_put_uint(&w, K_ERROR);
			tfp_cbor_put_int(&w, r->error);
		}
	}
	return tfp_cbor_writer_finish(&w, len);
}

static int
read_error(struct tfp_cbor_reader *rd, int32_t *err)
{
	struct tfp_cbor_reader probe = *rd;
	int64_t v;
	int rc = tfp_cbor_read_int(&probe, &v);
	if (rc != 0)
		return rc;
	if (v >= 0 || v < INT32_MIN)
		return TFP_ERR_RANGE;
	*err = (int32_t)v;
	*rd = probe;
	return 0;
}

int
tfp_report_decode(const uint8_t *buf, size_t len, struct tfp_report *r)
{
	struct tfp_cbor_reader rd;
	struct tfp__map m;
	enum tfp_msg_type type;
	unsigned key, v = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	tfp_cbor_reader_init(&rd, buf, len);
	rc = tfp__msg_open(&m, &rd, TFP__BIT(TFP_MSG_PROGRESS) | TFP__BIT(TFP_MSG_RESULT), &type,
	                   RESULT_ALLOWED);
	if (rc != 0)
		return rc;
	r->type = type;
	m.allowed = type == TFP_MSG_PROGRESS ? PROGRESS_KEYS : RESULT_ALLOWED;
	while ((rc = tfp__map_next(&m, &key)) == 1) {
		switch (key) {
		case K_COMMAND:
			rc = tfp_cbor_read_uint(&rd, &r->command_id);
			break;
		case K_PHASE:
			rc = tfp__read_enum(&rd, TFP_PHASE_MAX, &v);
			r->phase = (enum tfp_phase)v;
			break;
		case K_DONE:
			rc = tfp_cbor_read_u32(&rd, &r->bytes_done);
			break;
		case K_TOTAL:
			rc = tfp_cbor_read_u32(&rd, &r->bytes_total);
			break;
		case K_OUTCOME:
			rc = tfp__read_enum(&rd, TFP_OUTCOME_MAX, &v);
			r->outcome = (enum tfp_outcome)v;
			break;
		case K_REASON:
			rc = tfp__read_enum(&rd, UINT8_MAX, &v);
			if (rc == 0 && !tfp_reason_is_known((int)v))
				rc = TFP_ERR_RANGE;
			r->reason = (enum tfp_reason)v;
			break;
		default: /* K_ERROR */
			rc = read_error(&rd, &r->error);
			r->has_error = true;
			break;
		}
		if (rc != 0)
			return rc;
	}
	if (rc != 0)
		return rc;
	if ((rc = tfp__map_require(&m, type == TFP_MSG_PROGRESS ? PROGRESS_KEYS
	                                                        : RESULT_REQUIRED)) != 0)
		return rc;
	if ((m.seen & BYTES) != 0 && (m.seen & BYTES) != BYTES)
		return TFP_ERR_MISSING_FIELD;
	r->has_bytes = (m.seen & BYTES) == BYTES;
	if ((rc = consistent(r)) != 0)
		return rc;
	return tfp_cbor_expect_end(&rd);
}
