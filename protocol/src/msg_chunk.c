/* Chunk request/response codecs. See tinyfleet/protocol/msg_chunk.h for the wire form. */
#include "tinyfleet/protocol/msg_chunk.h"

#include <string.h>

#include "tinyfleet/protocol/cbor_io.h"
#include "msg_map.h"

_Static_assert(sizeof(struct tfp_chunk_request) <= TFP_CHUNK_REQUEST_STRUCT_MAX,
               "struct tfp_chunk_request outgrew its documented RAM budget");
_Static_assert(sizeof(struct tfp_chunk_response) <= TFP_CHUNK_RESPONSE_STRUCT_MAX,
               "struct tfp_chunk_response outgrew its documented RAM budget");

enum { Q_TYPE = 0, Q_COMMAND = 1, Q_OBJECT = 2, Q_OFFSET = 3, Q_LENGTH = 4 };
enum { P_TYPE = 0, P_OBJECT = 1, P_OFFSET = 2, P_TOTAL = 3, P_DATA = 4 };
#define ALL_KEYS (TFP__BIT(0) | TFP__BIT(1) | TFP__BIT(2) | TFP__BIT(3) | TFP__BIT(4))

static int
request_ok(const struct tfp_chunk_request *q)
{
	if (q->length == 0 || q->length > TFP_CHUNK_MAX ||
	    (uint64_t)q->offset + q->length > UINT32_MAX)
		return TFP_ERR_RANGE;
	return 0;
}

static int
response_ok(const struct tfp_chunk_response *p)
{
	if (p->len > TFP_CHUNK_MAX)
		return TFP_ERR_OVERSIZE;
	if (p->offset > p->total || p->len > (size_t)(p->total - p->offset))
		return TFP_ERR_RANGE;
	return 0;
}

int
tfp_chunk_request_encode(const struct tfp_chunk_request *q, uint8_t *buf, size_t cap,
                         size_t *len)
{
	struct tfp_cbor_writer w;

	if (request_ok(q) != 0)
		return TFP_ERR_ARG;
	tfp_cbor_writer_init(&w, buf, cap);
	tfp_cbor_put_map(&w, 5);
	tfp_cbor_put_uint(&w, Q_TYPE);
	tfp_cbor_put_uint(&w, TFP_MSG_CHUNK_REQUEST);
	tfp_cbor_put_uint(&w, Q_COMMAND);
	tfp_cbor_put_uint(&w, q->command_id);
	tfp_cbor_put_uint(&w, Q_OBJECT);
	tfp_cbor_put_bytes(&w, q->object_id, TFP_DIGEST_LEN);
	tfp_cbor_put_uint(&w, Q_OFFSET);
	tfp_cbor_put_uint(&w, q->offset);
	tfp_cbor_put_uint(&w, Q_LENGTH);
	tfp_cbor_put_uint(&w, q->length);
	return tfp_cbor_writer_finish(&w, len);
}

int
tfp_chunk_response_encode(const struct tfp_chunk_response *p, uint8_t *buf, size_t cap,
                          size_t *len)
{
	struct tfp_cbor_writer w;

	if (response_ok(p) != 0 || (p->data == NULL && p->len > 0))
		return TFP_ERR_ARG;
	tfp_cbor_writer_init(&w, buf, cap);
	tfp_cbor_put_map(&w, 5);
	tfp_cbor_put_uint(&w, P_TYPE);
	tfp_cbor_put_uint(&w, TFP_MSG_CHUNK_RESPONSE);
	tfp_cbor_put_uint(&w, P_OBJECT);
	tfp_cbor_put_bytes(&w, p->object_id, TFP_DIGEST_LEN);
	tfp_cbor_put_uint(&w, P_OFFSET);
	tfp_cbor_put_uint(&w, p->offset);
	tfp_cbor_put_uint(&w, P_TOTAL);
	tfp_cbor_put_uint(&w, p->total);
	tfp_cbor_put_uint(&w, P_DATA);
	tfp_cbor_put_bytes(&w, p->data, p->len);
	return tfp_cbor_writer_finish(&w, len);
}

int
tfp_chunk_request_decode(const uint8_t *buf, size_t len, struct tfp_chunk_request *q)
{
	struct tfp_cbor_reader r;
	struct tfp__map m;
	enum tfp_msg_type type;
	unsigned key;
	int rc;

	memset(q, 0, sizeof(*q));
	tfp_cbor_reader_init(&r, buf, len);
	if ((rc = tfp__msg_open(&m, &r, TFP__BIT(TFP_MSG_CHUNK_REQUEST), &type, ALL_KEYS)) != 0)
		return rc;
	while ((rc = tfp__map_next(&m, &key)) == 1) {
		switch (key) {
		case Q_COMMAND:
			rc = tfp_cbor_read_uint(&r, &q->command_id);
			break;
		case Q_OBJECT:
			rc = tfp_cbor_read_bytes_exact(&r, q->object_id, TFP_DIGEST_LEN);
			break;
		case Q_OFFSET:
			rc = tfp_cbor_read_u32(&r, &q->offset);
			break;
		default: /* Q_LENGTH */
			rc = tfp_cbor_read_u32(&r, &q->length);
			break;
		}
		if (rc != 0)
			return rc;
	}
	if (rc != 0)
		return rc;
	if ((rc = tfp__map_require(&m, ALL_KEYS)) != 0)
		return rc;
	if ((rc = request_ok(q)) != 0)
		return rc;
	return tfp_cbor_expect_end(&r);
}

int
tfp_chunk_response_decode(const uint8_t *buf, size_t len, struct tfp_chunk_response *p)
{
	struct tfp_cbor_reader r;
	struct tfp__map m;
	enum tfp_msg_type type;
	unsigned key;
	int rc;

	memset(p, 0, sizeof(*p));
	tfp_cbor_reader_init(&r, buf, len);
	if ((rc = tfp__msg_open(&m, &r, TFP__BIT(TFP_MSG_CHUNK_RESPONSE), &type, ALL_KEYS)) != 0)
		return rc;
	while ((rc = tfp__map_next(&m, &key)) == 1) {
		switch (key) {
		case P_OBJECT:
			rc = tfp_cbor_read_bytes_exact(&r, p->object_id, TFP_DIGEST_LEN);
			break;
		case P_OFFSET:
			rc = tfp_cbor_read_u32(&r, &p->offset);
			break;
		case P_TOTAL:
			rc = tfp_cbor_read_u32(&r, &p->total);
			break;
		default: /* P_DATA */
			rc = tfp_cbor_read_bytes(&r, &p->data, &p->len);
			if (rc == 0 && p->len > TFP_CHUNK_MAX)
				rc = TFP_ERR_OVERSIZE;
			break;
		}
		if (rc != 0)
			return rc;
	}
	if (rc != 0)
		return rc;
	if ((rc = tfp__map_require(&m, ALL_KEYS)) != 0)
		return rc;
	if ((rc = response_ok(p)) != 0)
		return rc;
	return tfp_cbor_expect_end(&r);
}
