/* hello/state codec. See tinyfleet/protocol/msg_state.h for the wire form. */
#include "tinyfleet/protocol/msg_state.h"

#include <string.h>

#include "tinyfleet/protocol/cbor_io.h"
#include "msg_map.h"

_Static_assert(sizeof(struct tfp_state) <= TFP_STATE_STRUCT_MAX,
               "struct tfp_state outgrew its documented RAM budget");

enum {
	K_TYPE = 0, K_WIRE = 1, K_DEVICE = 2, K_CLASS = 3, K_RAM = 4, K_FLASH = 5,
	K_SENSORS = 6, K_AGENT_VERSION = 7, K_AGENT_ABI = 8, K_SLOTS = 9, K_ACTIVE = 10,
	K_COMMAND = 11,
};
#define STATE_REQUIRED (TFP__BIT(K_TYPE) | TFP__BIT(K_WIRE) | TFP__BIT(K_DEVICE) |       \
                        TFP__BIT(K_CLASS) | TFP__BIT(K_RAM) | TFP__BIT(K_FLASH) |        \
                        TFP__BIT(K_SENSORS) | TFP__BIT(K_AGENT_VERSION) |                \
                        TFP__BIT(K_AGENT_ABI) | TFP__BIT(K_SLOTS) | TFP__BIT(K_ACTIVE))
#define STATE_ALLOWED (STATE_REQUIRED | TFP__BIT(K_COMMAND))

enum { S_STATE = 0, S_MODEL = 1, S_VERSION = 2, S_SEQUENCE = 3, S_DIGEST = 4 };
#define SLOT_DETAIL (TFP__BIT(S_MODEL) | TFP__BIT(S_VERSION) | TFP__BIT(S_SEQUENCE) |    \
                     TFP__BIT(S_DIGEST))
#define SLOT_ALLOWED (TFP__BIT(S_STATE) | SLOT_DETAIL)

static bool
slot_ok(const struct tfp_slot *sl)
{
	if ((unsigned)sl->state > TFP_SLOT_STATE_MAX)
		return false;
	if (sl->state == TFP_SLOT_EMPTY)
		return true;
	return tfp__ident_ok(sl->model, sizeof(sl->model)) &&
	       tfp__ident_ok(sl->version, sizeof(sl->version));
}

static int
check(const struct tfp_state *s)
{
	if (s->wire_version == 0 || s->active_slot >= TFP_SLOTS ||
	    s->sensor_count > TFP_SENSORS_MAX ||
	    !tfp__device_id_ok(s->device_id, sizeof(s->device_id)) ||
	    !tfp__ident_ok(s->device_class, sizeof(s->device_class)) ||
	    !tfp__ident_ok(s->agent_version, sizeof(s->agent_version)))
		return TFP_ERR_ARG;
	for (unsigned i = 0; i < s->sensor_count; i++)
		if (!tfp__ident_ok(s->sensors[i], sizeof(s->sensors[i])))
			return TFP_ERR_ARG;
	for (unsigned i = 0; i < TFP_SLOTS; i++)
		if (!slot_ok(&s->slots[i]))
			return TFP_ERR_ARG;
	return 0;
}

static void
put_slot(struct tfp_cbor_writer *w, const struct tfp_slot *sl)
{
	if (sl->state == TFP_SLOT_EMPTY) {
		tfp_cbor_put_map(w, 1);
		tfp_cbor_put_uint(w, S_STATE);
		tfp_cbor_put_uint(w, TFP_SLOT_EMPTY);
		return;
	}
	tfp_cbor_put_map(w, 5);
	tfp_cbor_put_uint(w, S_STATE);
	tfp_cbor_put_uint(w, (uint64_t)sl->state);
	tfp_cbor_put_uint(w, S_MODEL);
	tfp_cbor_put_textz(w, sl->model);
	tfp_cbor_put_uint(w, S_VERSION);
	tfp_cbor_put_textz(w, sl->version);
	tfp_cbor_put_uint(w, S_SEQUENCE);
	tfp_cbor_put_uint(w, sl->sequence);
	tfp_cbor_put_uint(w, S_DIGEST);
	tfp_cbor_put_bytes(w, sl->digest, TFP_DIGEST_LEN);
}

int
tfp_state_encode(const struct tfp_state *s, uint8_t *buf, size_t cap, size_t *len)
{
	struct tfp_cbor_writer w;
	int rc;

	if ((rc = check(s)) != 0)
		return rc;
	tfp_cbor_writer_init(&w, buf, cap);
	tfp_cbor_put_map(&w, s->has_command ? 12 : 11);
	tfp_cbor_put_uint(&w, K_TYPE);
	tfp_cbor_put_uint(&w, TFP_MSG_STATE);
	tfp_cbor_put_uint(&w, K_WIRE);
	tfp_cbor_put_uint(&w, s->wire_version);
	tfp_cbor_put_uint(&w, K_DEVICE);
	tfp_cbor_put_textz(&w, s->device_id);
	tfp_cbor_put_uint(&w, K_CLASS);
	tfp_cbor_put_textz(&w, s->device_class);
	tfp_cbor_put_uint(&w, K_RAM);
	tfp_cbor_put_uint(&w, s->ram_bytes);
	tfp_cbor_put_uint(&w, K_FLASH);
	tfp_cbor_put_uint(&w, s->flash_bytes);
	tfp_cbor_put_uint(&w, K_SENSORS);
	tfp_cbor_put_array(&w, s->sensor_count);
	for (unsigned i = 0; i < s->sensor_count; i++)
		tfp_cbor_put_textz(&w, s->sensors[i]);
	tfp_cbor_put_uint(&w, K_AGENT_VERSION);
	tfp_cbor_put_textz(&w, s->agent_version);
	tfp_cbor_put_uint(&w, K_AGENT_ABI);
	tfp_cbor_put_uint(&w, s->agent_abi);
	tfp_cbor_put_uint(&w, K_SLOTS);
	tfp_cbor_put_array(&w, TFP_SLOTS);
	for (unsigned i = 0; i < TFP_SLOTS; i++)
		put_slot(&w, &s->slots[i]);
	tfp_cbor_put_uint(&w, K_ACTIVE);
	tfp_cbor_put_uint(&w, s->active_slot);
	if (s->has_command) {
		tfp_cbor_put_uint(&w, K_COMMAND);
		tfp_cbor_put_uint(&w, s->command_id);
	}
	return tfp_cbor_writer_finish(&w, len);
}

static int
read_slot(struct tfp_cbor_reader *r, struct tfp_slot *sl)
{
	struct tfp__map m;
	unsigned key, v = 0;
	int rc;

	if ((rc = tfp__map_open(&m, r, SLOT_ALLOWED)) != 0)
		return rc;
	while ((rc = tfp__map_next(&m, &key)) == 1) {
		switch (key) {
		case S_STATE:
			rc = tfp__read_enum(r, TFP_SLOT_STATE_MAX, &v);
			sl->state = (enum tfp_slot_state)v;
			break;
		case S_MODEL:
			rc = tfp__read_ident(r, sl->model, sizeof(sl->model));
			break;
		case S_VERSION:
			rc = tfp__read_ident(r, sl->version, sizeof(sl->version));
			break;
		case S_SEQUENCE:
			rc = tfp_cbor_read_uint(r, &sl->sequence);
			break;
		default: /* S_DIGEST */
			rc = tfp_cbor_read_bytes_exact(r, sl->digest, TFP_DIGEST_LEN);
			break;
		}
		if (rc != 0)
			return rc;
	}
	if (rc != 0)
		return rc;
	if ((rc = tfp__map_require(&m, TFP__BIT(S_STATE))) != 0)
		return rc;
	if (sl->state == TFP_SLOT_EMPTY)
		return (m.seen & SLOT_DETAIL) ? TFP_ERR_UNKNOWN_FIELD : 0;
	return tfp__map_require(&m, SLOT_ALLOWED);
}

static int
read_sensors(struct tfp_cbor_reader *r, struct tfp_state *s)
{
	size_t n;
	int rc;

	if ((rc = tfp_cbor_read_array(r, &n)) != 0)
		return rc;
	if (n > TFP_SENSORS_MAX)
		return TFP_ERR_OVERSIZE;
	for (size_t i = 0; i < n; i++)
		if ((rc = tfp__read_ident(r, s->sensors[i], sizeof(s->sensors[i]))) != 0)
			return rc;
	s->sensor_count = (uint8_t)n;
	return 0;
}

static int
read_slots(struct tfp_cbor_reader *r, struct tfp_state *s)
{
	size_t n;
	int rc;

	if ((rc = tfp_cbor_read_array(r, &n)) != 0)
		return rc;
	if (n != TFP_SLOTS)
		return TFP_ERR_RANGE;
	for (size_t i = 0; i < n; i++)
		if ((rc = read_slot(r, &s->slots[i])) != 0)
			return rc;
	return 0;
}

int
tfp_state_decode(const uint8_t *buf, size_t len, struct tfp_state *s)
{
	struct tfp_cbor_reader r;
	struct tfp__map m;
	enum tfp_msg_type type;
	unsigned key, v = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	tfp_cbor_reader_init(&r, buf, len);
	if ((rc = tfp__msg_open(&m, &r, TFP__BIT(TFP_MSG_STATE), &type, STATE_ALLOWED)) != 0)
		return rc;
	while ((rc = tfp__map_next(&m, &key)) == 1) {
		switch (key) {
		case K_WIRE:
			rc = tfp_cbor_read_u32(&r, &s->wire_version);
			if (rc == 0 && s->wire_version == 0)
				rc = TFP_ERR_RANGE;
			break;
		case K_DEVICE:
			rc = tfp__read_device_id(&r, s->device_id, sizeof(s->device_id));
			break;
		case K_CLASS:
			rc = tfp__read_ident(&r, s->device_class, sizeof(s->device_class));
			break;
		case K_RAM:
			rc = tfp_cbor_read_u32(&r, &s->ram_bytes);
			break;
		case K_FLASH:
			rc = tfp_cbor_read_u32(&r, &s->flash_bytes);
			break;
		case K_SENSORS:
			rc = read_sensors(&r, s);
			break;
		case K_AGENT_VERSION:
			rc = tfp__read_ident(&r, s->agent_version, sizeof(s->agent_version));
			break;
		case K_AGENT_ABI:
			rc = tfp_cbor_read_u32(&r, &s->agent_abi);
			break;
		case K_SLOTS:
			rc = read_slots(&r, s);
			break;
		case K_ACTIVE:
			rc = tfp__read_enum(&r, TFP_SLOTS - 1, &v);
			s->active_slot = (uint8_t)v;
			break;
		default: /* K_COMMAND */
			rc = tfp_cbor_read_uint(&r, &s->command_id);
			s->has_command = true;
			break;
		}
		if (rc != 0)
			return rc;
	}
	if (rc != 0)
		return rc;
	if ((rc = tfp__map_require(&m, STATE_REQUIRED)) != 0)
		return rc;
	return tfp_cbor_expect_end(&r);
}
