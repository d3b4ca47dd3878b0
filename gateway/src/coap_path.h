/*
 * coap_path: the resource paths of the CoAP device endpoint, parsed from the Uri-Path a
 * device (or anyone) sent. Untrusted input: every byte is checked, nothing is allocated.
 *
 *   dev/<device-id>/state       POST  hello/state (application/cbor)
 *   dev/<device-id>/conn        POST  online marker (application/cbor)
 *   dev/<device-id>/telemetry   POST  SenML-CBOR drift/learning metrics
 *   dev/<device-id>/report      POST  update progress and results
 *   dev/<device-id>/cmd         GET   commands, observable (RFC 7641)
 *   obj/<64 hex digits>         GET   a stored object (image, packed image, delta) by its
 *                                     SHA-256, block-wise (RFC 7959)
 *
 * These mirror the MQTT topic tree tf/<site>/dev/<id>/... (schemas/README.md); the site is
 * implicit (one gateway, one site). A device id is 1..TFP_DEVICE_ID_MAX characters of
 * [A-Za-z0-9._-] and never "." or "..". Hex digits may be either case.
 */
#ifndef GW_COAP_PATH_H
#define GW_COAP_PATH_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/common.h"

enum gw_coap_res {
	GW_COAP_RES_STATE = 0,
	GW_COAP_RES_CONN,
	GW_COAP_RES_TELEMETRY,
	GW_COAP_RES_REPORT,
	GW_COAP_RES_CMD,
	GW_COAP_RES_OBJECT,
};

struct gw_coap_path {
	enum gw_coap_res res;
	char device_id[TFP_DEVICE_ID_MAX + 1];    /* dev/... paths */
	uint8_t object_id[TFP_DIGEST_LEN];        /* obj/... paths */
};

/* The kind of a dev/ resource as the MQTT topic suffix names it ("state", ...). */
const char *gw_coap_res_name(enum gw_coap_res r);

/*
 * Parses a path of `len` bytes (no leading '/', segments separated by '/', as libcoap
 * hands the Uri-Path options joined). Returns 0 with *out filled, or -EINVAL for a path that
 * is not one of the above (also: empty segments, trailing '/', NUL bytes, over-long ids).
 */
int gw_coap_path_parse(const char *path, size_t len, struct gw_coap_path *out);

#endif
