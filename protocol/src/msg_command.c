/* Command codecs. See tinyfleet/protocol/msg_command.h for the wire form. */
#include "tinyfleet/protocol/msg_command.h"

#include <string.h>

#include "tinyfleet/protocol/cbor_io.h"
#include "msg_map.h"

_Static_assert(sizeof(struct tfp_command) <= TFP_COMMAND_STRUCT_MAX,
               "struct tfp_command outgrew its documented RAM budget");

enum { K_TYPE = 0, K_COMMAND = 1 };
enum { U_MANIFEST = 2, U_FETCH = 3, U_BASE = 4, U_OBJECT = 5, U_SIZE = 6, U_CHUNK = 7 };
enum {
	C_PERIOD = 2, C_SAMPLES = 3, C_PH_DELTA = 4, C_PH_LAMBDA = 5, C_ADWIN = 6, C_PSI = 7,
	C_SHIFT = 8, C_LABEL = 9,
};

#define HEAD (TFP__BIT(K_TYPE) | TFP__BIT(K_COMMAND))
#define UPDATE_REQUIRED (HEAD | TFP__BIT(U_MANIFEST) | TFP__BIT(U_FETCH) |                \
                         TFP__BIT(U_OBJECT) | TFP__BIT(U_SIZE) | TFP__BIT(U_CHUNK))
#define UPDATE_ALLOWED (UPDATE_REQUIRED | TFP__BIT(U_BASE))
#define CONFIG_ALLOWED (HEAD | (TFP_CFG_ALL << C_PERIOD))
#define COMMAND_TYPES (TFP__BIT(TFP_MSG_UPDATE) | TFP__BIT(TFP_MSG_ROLLBACK) |           \
                       TFP__BIT(TFP_MSG_CONFIG))

/* Allowed range of each float setting, indexed by key - C_PH_DELTA. */
static const struct { float lo, hi; } float_range[] = {
	{ 0.0f, 1e6f },   /* ph delta */
	{ 0.0f, 1e9f },   /* ph lambda */
	{ 0.0f, 1.0f },   /* adwin delta */
	{ 0.0f, 1e3f },   /* psi alarm */
	{ 0.0f, 1e3f },   /* shift alarm */
	{ 0.0f, 1.0f },   /* label rate */
};

static float *
config_float(struct tfp_config *cfg, unsigned key)
{
	switch (key) {
	case C_PH_DELTA: return &cfg->ph_delta;
	case C_PH_LAMBDA: return &cfg->ph_lambda;
	case C_ADWIN: return &cfg->adwin_delta;
	case C_PSI: return &cfg->psi_alarm;
	case C_SHIFT: return &cfg->shift_alarm;
	default: return &cfg->label_rate;   /* C_LABEL */
	}
}

static float
config_get(const struct tfp_config *cfg, unsigned key)
{
	switch (key) {
	case C_PH_DELTA: return cfg->ph_delta;
	case C_PH_LAMBDA: return cfg->ph_lambda;
	case C_ADWIN: return cfg->adwin_delta;
	case C_PSI: return cfg->psi_alarm;
	case C_SHIFT: return cfg->shift_alarm;
	default: return cfg->label_rate;    /* C_LABEL */
	}
}

static int
update_ok(const struct tfp_update_offer *u)
{
	if (u->manifest_len > TFP_MANIFEST_MAX)
		return TFP_ERR_OVERSIZE;
	if (u->manifest_len == 0 || (unsigned)u->fetch > TFP_FETCH_MAX || u->object_size == 0 ||
	    u->chunk_size == 0 || u->chunk_size > TFP_CHUNK_MAX)
		return TFP_ERR_RANGE;
	return 0;
}

static int
config_ok(const struct tfp_config *cfg)
{
	if (cfg->present & ~TFP_CFG_ALL)
		return TFP_ERR_RANGE;
	if ((cfg->present & TFP_CFG_TELEMETRY_PERIOD) &&
	    (cfg->telemetry_period_s == 0 || cfg->telemetry_period_s > TFP_CFG_PERIOD_MAX))
		return TFP_ERR_RANGE;
	if ((cfg->present & TFP_CFG_TELEMETRY_SAMPLES) && cfg->telemetry_samples == 0)
		return TFP_ERR_RANGE;
	for (unsigned k = C_PH_DELTA; k <= C_LABEL; k++) {
		float v = config_get(cfg, k);
		if ((cfg->present & (1u << (k - C_PERIOD))) &&
		    !(v >= float_range[k - C_PH_DELTA].lo && v <= float_range[k - C_PH_DELTA].hi))
			return TFP_ERR_RANGE;
	}
	return 0;
}

static void
put_update(struct tfp_cbor_writer *w, const struct tfp_update_offer *u)
{
	tfp_cbor_put_uint(w, U_MANIFEST);
	tfp_cbor_put_bytes(w, u->manifest, u->manifest_len);
	tfp_cbor_put_uint(w, U_FETCH);
	tfp_cbor_put_uint(w, (uint64_t)u->fetch);
	if (u->fetch == TFP_FETCH_DELTA) {
		tfp_cbor_put_uint(w, U_BASE);
		tfp_cbor_put_bytes(w, u->base_digest, TFP_DIGEST_LEN);
	}
	tfp_cbor_put_uint(w, U_OBJECT);
	tfp_cbor_put_bytes(w, u->object_id, TFP_DIGEST_LEN);
	tfp_cbor_put_uint(w, U_SIZE);
	tfp_cbor_put_uint(w, u->object_size);
	tfp_cbor_put_uint(w, U_CHUNK);
	tfp_cbor_put_uint(w, u->chunk_size);
}

static void
put_config(struct tfp_cbor_writer *w, const struct tfp_config *cfg)
{
	if (cfg->present & TFP_CFG_TELEMETRY_PERIOD) {
		tfp_cbor_put_uint(w, C_PERIOD);
		tfp_cbor_put_uint(w, cfg->telemetry_period_s);
	}
	if (cfg->present & TFP_CFG_TELEMETRY_SAMPLES) {
		tfp_cbor_put_uint(w, C_SAMPLES);
		tfp_cbor_put_uint(w, cfg->telemetry_samples);
	}
	for (unsigned k = C_PH_DELTA; k <= C_LABEL; k++) {
		if (!(cfg->present & (1u << (k - C_PERIOD))))
			continue;
		tfp_cbor_put_uint(w, k);
		tfp_cbor_put_float(w, config_get(cfg, k));
	}
}

static size_t
popcount(uint32_t v)
{
	size_t n = 0;
	for (; v != 0; v &= v - 1)
		n++;
	return n;
}

int
tfp_command_encode(const struct tfp_command *c, uint8_t *buf, size_t cap, size_t *len)
{
	struct tfp_cbor_writer w;
	size_t pairs;

	switch (c->type) {
	case TFP_MSG_UPDATE:
		if (update_ok(&c->u.update) != 0 ||
		    (c->u.update.manifest == NULL && c->u.update.manifest_len > 0))
			return TFP_ERR_ARG;
		pairs = 7 + (c->u.update.fetch == TFP_FETCH_DELTA);
		break;
	case TFP_MSG_ROLLBACK:
		pairs = 2;
		break;
	case TFP_MSG_CONFIG:
		if (config_ok(&c->u.config) != 0)
			return TFP_ERR_ARG;
		pairs = 2 + popcount(c->u.config.present);
		break;
	default:
		return TFP_ERR_ARG;
	}
	tfp_cbor_writer_init(&w, buf, cap);
	tfp_cbor_put_map(&w, pairs);
	tfp_cbor_put_uint(&w, K_TYPE);
	tfp_cbor_put_uint(&w, (uint64_t)c->type);
	tfp_cbor_put_uint(&w, K_COMMAND);
	tfp_cbor_put_uint(&w, c->command_id);
	if (c->type == TFP_MSG_UPDATE)
		put_update(&w, &c->u.update);
	else if (c->type == TFP_MSG_CONFIG)
		put_config(&w, &c->u.config);
	return tfp_cbor_writer_finish(&w, len);
}

static int
read_update_field(struct tfp_cbor_reader *r, unsigned key, struct tfp_update_offer *u)
{
	unsigned v = 0;
	int rc;

	switch (key) {
	case U_MANIFEST:
		rc = tfp_cbor_read_bytes(r, &u->manifest, &u->manifest_len);
		if (rc == 0 && u->manifest_len > TFP_MANIFEST_MAX)
			rc = TFP_ERR_OVERSIZE;
		return rc;
	case U_FETCH:
		rc = tfp__read_enum(r, TFP_FETCH_MAX, &v);
		u->fetch = (enum tfp_fetch)v;
		return rc;
	case U_BASE:
		return tfp_cbor_read_bytes_exact(r, u->base_digest, TFP_DIGEST_LEN);
	case U_OBJECT:
		return tfp_cbor_read_bytes_exact(r, u->object_id, TFP_DIGEST_LEN);
	case U_SIZE:
		return tfp_cbor_read_u32(r, &u->object_size);
	default: /* U_CHUNK */
		return tfp_cbor_read_u32(r, &u->chunk_size);
	}
}

static int
read_config_field(struct tfp_cbor_reader *r, unsigned key, struct tfp_config *cfg)
{
	cfg->present |= 1u << (key - C_PERIOD);
	switch (key) {
	case C_PERIOD:
		return tfp_cbor_read_u32(r, &cfg->telemetry_period_s);
	case C_SAMPLES:
		return tfp_cbor_read_u32(r, &cfg->telemetry_samples);
	default:
		return tfp__read_float(r, float_range[key - C_PH_DELTA].lo,
		                       float_range[key - C_PH_DELTA].hi, config_float(cfg, key));
	}
}

int
tfp_command_decode(const uint8_t *buf, size_t len, struct tfp_command *c)
{
	static const uint32_t allowed[] = {
		[TFP_MSG_UPDATE] = UPDATE_ALLOWED,
		[TFP_MSG_ROLLBACK] = HEAD,
		[TFP_MSG_CONFIG] = CONFIG_ALLOWED,
	};
	struct tfp_cbor_reader r;
	struct tfp__map m;
	enum tfp_msg_type type;
	unsigned key;
	int rc;

	memset(c, 0, sizeof(*c));
	tfp_cbor_reader_init(&r, buf, len);
	/* Open with the widest key set, then narrow it to the type's own keys. */
	if ((rc = tfp__msg_open(&m, &r, COMMAND_TYPES, &type, UPDATE_ALLOWED | CONFIG_ALLOWED)) != 0)
		return rc;
	c->type = type;
	m.allowed = allowed[type];
	while ((rc = tfp__map_next(&m, &key)) == 1) {
		if (key == K_COMMAND)
			rc = tfp_cbor_read_uint(&r, &c->command_id);
		else if (type == TFP_MSG_UPDATE)
			rc = read_update_field(&r, key, &c->u.update);
		else
			rc = read_config_field(&r, key, &c->u.config);
		if (rc != 0)
			return rc;
	}
	if (rc != 0)
		return rc;
	if ((rc = tfp__map_require(&m, type == TFP_MSG_UPDATE ? UPDATE_REQUIRED : HEAD)) != 0)
		return rc;
	if (type == TFP_MSG_UPDATE) {
		struct tfp_update_offer *u = &c->u.update;
		bool has_base = (m.seen & TFP__BIT(U_BASE)) != 0;
		if (u->fetch == TFP_FETCH_DELTA && !has_base)
			return TFP_ERR_MISSING_FIELD;
		if (u->fetch != TFP_FETCH_DELTA && has_base)
			return TFP_ERR_UNKNOWN_FIELD;
		if ((rc = update_ok(u)) != 0)
			return rc;
	} else if (type == TFP_MSG_CONFIG) {
		if ((rc = config_ok(&c->u.config)) != 0)
			return rc;
	}
	return tfp_cbor_expect_end(&r);
}
