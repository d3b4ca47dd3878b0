/* Dispatch on a device-plane message's type. See tinyfleet/protocol/msg_type.h. */
#include "tinyfleet/protocol/msg_type.h"

#include "msg_map.h"

/* Every typed message; TFP_MSG_TELEMETRY is reserved and never a map key 0 value. */
#define ALL_TYPES (TFP__BIT(TFP_MSG_STATE) | TFP__BIT(TFP_MSG_UPDATE) |                \
                   TFP__BIT(TFP_MSG_ROLLBACK) | TFP__BIT(TFP_MSG_CONFIG) |             \
                   TFP__BIT(TFP_MSG_CHUNK_REQUEST) | TFP__BIT(TFP_MSG_CHUNK_RESPONSE) |\
                   TFP__BIT(TFP_MSG_PROGRESS) | TFP__BIT(TFP_MSG_RESULT))

int
tfp_msg_peek_type(const uint8_t *buf, size_t len, enum tfp_msg_type *type)
{
	struct tfp_cbor_reader r;
	struct tfp__map m;

	tfp_cbor_reader_init(&r, buf, len);
	return tfp__msg_open(&m, &r, ALL_TYPES, type, UINT32_MAX);
}
