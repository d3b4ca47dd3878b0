/*
 * Device telemetry: drift and learning metrics as a SenML-CBOR pack (RFC 8428).
 *
 * A device reports one snapshot of its metrics every N samples and at once on an alarm.
 * The snapshot is a SenML pack: a CBOR array of record maps with the integer labels of
 * RFC 8428 Table 4. The contract is schemas/telemetry.cddl; this header is its C form.
 *
 * Base name. The first record carries bn = "<device-id>/<model>:<version>/" and every
 * record name resolves (bn + n) below it, e.g. "pump-17/vib-anomaly:1.4.2/acc". The
 * device id and model use [A-Za-z0-9._-], the version [A-Za-z0-9.-] (semantic version
 * without build metadata), and the device id starts with a letter or digit, so the
 * resolved names stay inside RFC 8428 §4.5.1's character set ('@' and '+' are not in it,
 * hence ':' between model and version). Parsing splits at the first '/' and at the first
 * ':' after it; the base name ends with '/'.
 *
 * Base time. The first record carries bt = the device clock in seconds when the snapshot
 * was taken (records carry no t). RFC 8428 reads values below 2^28 as relative to "now":
 * a device with a wall clock sends Unix time; one without sends its uptime, and the
 * decoder reports time_relative so the gateway can place it on its own clock.
 *
 * Records (name relative to the base name, value field, SenML unit):
 *   samples      v  count   samples seen since the model was activated
 *   labelled     v  count   of which labelled (TinyOL SGD steps possible)
 *   loss         v          loss average (window of the device's choice)
 *   acc          v  /       prequential accuracy average, ratio 0..1
 *   alarm        vb         this report is urgent (a detector alarmed)
 *   why          v          TFP_TELEM_WHY_* bits: what made the report urgent (0 periodic)
 *   ph, ph_alarm       v, vb   Page-Hinkley statistic (PH_t - min PH) and alarm
 *   adwin, adwin_alarm v, vb   ADWIN largest cut difference |mu0 - mu1| and alarm
 *   adwin_w      v  count   ADWIN window width
 *   ddm, ddm_alarm     v, vb   DDM (p + s) / (p_min + s_min) and alarm (or warning level)
 *   psi          v          PSI over all features (mean of per-feature PSI)
 *   psi_max      v          largest per-feature PSI
 *   conf         v  /       mean max-probability of predictions
 *   margin       v  /       mean margin between the two most probable classes
 *   nfeat        v  count   input features of the model (<= TFP_TELEM_FEATURES_MAX)
 *   hddm, hddm_alarm   v, vb   HDDM_A statistic and alarm            (optional)
 *   lr           v          TinyOL head learning rate                (optional)
 *   steps        v  count   TinyOL SGD steps taken                   (optional)
 *   z<i>         v          standardized mean shift of feature i, (running mean - training
 *                           mean) / training stddev; i in decimal, no leading zeros
 *   dropped      v  count   records left out to fit the byte budget (only in partial packs)
 * Counts are unsigned integers up to 2^32 - 1; every number is finite.
 *
 * Byte budget. When the complete pack does not fit, the encoder leaves whole records out
 * in this order until it fits: the z<i> records, smallest |shift| first (on a tie the higher
 * index first); then the optional records in the order steps, lr, hddm, hddm_alarm. It then
 * appends the "dropped" record. The other records are never dropped: if they do not fit,
 * encoding fails with TFP_ERR_BUFFER.
 *
 * Decoding (gateway side, no malloc, bounded stack). Records are resolved per RFC 8428
 * (see protocol/src/senml.h for the SenML-level checks and their codes). Then: the first
 * record's base name must parse as above (TFP_ERR_SENML_BASE), every resolved name must lie
 * below it (TFP_ERR_SENML_BASE), a known name appears at most once
 * (TFP_ERR_DUPLICATE_FIELD), its value field and unit are the documented ones
 * (TFP_ERR_SENML_VALUE), counts are integers in range and reals fit a float
 * (TFP_ERR_RANGE), z<i> has i < nfeat (TFP_ERR_RANGE) and i < TFP_TELEM_FEATURES_MAX
 * (TFP_ERR_OVERSIZE), and every record not marked optional above is present
 * (TFP_ERR_MISSING_FIELD). Records with unknown names are skipped and counted, so newer
 * agents can report more. A record that resolves to the base name itself with neither
 * value nor sum only states base fields and is skipped.
 *
 * Threads and memory: no global state, no allocation; structures are caller-owned.
 */
#ifndef TINYFLEET_PROTOCOL_TELEMETRY_H
#define TINYFLEET_PROTOCOL_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/common.h"
#include "tinyfleet/protocol/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TFP_TELEM_FEATURES_MAX 64

/* Base name bytes, without the NUL: "<dev>/<model>:<version>/". */
#define TFP_TELEM_BASE_NAME_MAX (TFP_DEVICE_ID_MAX + TFP_MODEL_NAME_MAX + TFP_VERSION_MAX + 3)

/* Bits of tfp_telemetry.why. */
#define TFP_TELEM_WHY_PH      0x01u
#define TFP_TELEM_WHY_ADWIN   0x02u
#define TFP_TELEM_WHY_DDM     0x04u
#define TFP_TELEM_WHY_HDDM    0x08u
#define TFP_TELEM_WHY_SHIFT   0x10u     /* a feature's shift passed its threshold */
#define TFP_TELEM_WHY_PSI     0x20u
#define TFP_TELEM_WHY_CONF    0x40u     /* confidence fell below its threshold */

/* Bits of tfp_telemetry.optional: which optional records are present. */
#define TFP_TELEM_OPT_HDDM       0x01u
#define TFP_TELEM_OPT_HDDM_ALARM 0x02u
#define TFP_TELEM_OPT_LR         0x04u
#define TFP_TELEM_OPT_STEPS      0x08u
#define TFP_TELEM_OPT_ALL        0x0fu

struct tfp_telem_detector {
	float score;
	bool alarm;
};

/* One snapshot. The same struct is the encoder's input and the decoder's output. */
struct tfp_telemetry {
	char device_id[TFP_DEVICE_ID_MAX + 1];
	char model[TFP_MODEL_NAME_MAX + 1];
	char version[TFP_VERSION_MAX + 1];
	double time;                  /* device clock, seconds (bt) */
	bool time_relative;           /* decoder: time < 2^28, relative per RFC 8428 §4.5.3 */

	uint32_t samples;
	uint32_t labelled;
	float loss;
	float accuracy;
	bool alarm;
	uint32_t why;                 /* TFP_TELEM_WHY_* */
	struct tfp_telem_detector ph;
	struct tfp_telem_detector adwin;
	uint32_t adwin_width;
	struct tfp_telem_detector ddm;
	float psi;
	float psi_max;
	float conf_mean;
	float margin_mean;

	uint32_t optional;            /* TFP_TELEM_OPT_* present */
	struct tfp_telem_detector hddm;
	float lr;
	uint32_t steps;

	uint16_t n_features;          /* <= TFP_TELEM_FEATURES_MAX */
	uint64_t shift_mask;          /* bit i: shift[i] is present (encoder: is to be sent) */
	float shift[TFP_TELEM_FEATURES_MAX];

	/* Decoder only (the encoder ignores them). */
	uint16_t dropped;             /* the "dropped" record: 0 for a complete pack */
	uint16_t unknown_records;     /* records with names this version does not know */
	uint16_t ignored_labels;      /* extension text labels skipped */
};

/* What the encoder did. */
struct tfp_telem_enc_info {
	size_t len;                   /* bytes written (0 on error) */
	size_t need_full;             /* bytes the complete pack takes */
	size_t need_min;              /* bytes of the smallest pack it could build */
	uint16_t dropped;             /* records left out */
	uint64_t dropped_shifts;      /* bit i: z<i> left out */
	uint32_t dropped_optional;    /* TFP_TELEM_OPT_* left out */
};

/* Zeroes a snapshot (no records optional, no features). Cannot fail. */
void tfp_telemetry_init(struct tfp_telemetry *t);

/*
 * Encodes t into buf (at most `budget` bytes; buf may be NULL when budget is 0 to learn
 * the sizes). Never writes past buf + budget. info may be NULL.
 * Returns 0; TFP_ERR_BUFFER when even the records that are never dropped do not fit
 * (info->need_min says how many bytes they need); TFP_ERR_ARG for an identity string that
 * breaks the base-name rules, n_features above TFP_TELEM_FEATURES_MAX or unknown
 * optional bits; TFP_ERR_RANGE for a non-finite value.
 */
int tfp_telemetry_encode(const struct tfp_telemetry *t, uint8_t *buf, size_t budget,
                         struct tfp_telem_enc_info *info);

/*
 * Decodes a pack into *t (overwritten; its content is unspecified after an error).
 * Returns 0 or an error code as listed in the header comment; input is only borrowed for
 * the call.
 */
int tfp_telemetry_decode(const uint8_t *buf, size_t len, struct tfp_telemetry *t);

/*
 * Writes the base name for (device, model, version) into dst (cap bytes incl. NUL).
 * Returns 0, TFP_ERR_ARG when a part breaks the rules, TFP_ERR_BUFFER when cap is short.
 */
int tfp_telemetry_base_name(const char *device_id, const char *model, const char *version,
                            char *dst, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
