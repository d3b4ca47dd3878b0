/*
 * Fuzz target for the CoAP endpoint's resource path parser (gateway/src/coap_path.c), which
 * sees every Uri-Path any DTLS peer sends. Whatever parses must name a well-formed resource:
 * printed back, it parses again to the same thing and is the input (hex digits aside).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coap_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_coap_path p, q;
	char again[128];
	int n;

	if (gw_coap_path_parse((const char *)data, size, &p) != 0)
		return 0;
	if (p.res == GW_COAP_RES_OBJECT) {
		n = snprintf(again, sizeof(again), "obj/");
		for (int i = 0; i < 32; i++)
			n += snprintf(again + n, sizeof(again) - (size_t)n, "%02x", p.object_id[i]);
	} else {
		size_t idlen = strlen(p.device_id);
		if (idlen == 0 || idlen > TFP_DEVICE_ID_MAX || strchr(p.device_id, '/') != NULL)
			abort();
		n = snprintf(again, sizeof(again), "dev/%s/%s", p.device_id, gw_coap_res_name(p.res));
	}
	if (n < 0 || (size_t)n != size || gw_coap_path_parse(again, (size_t)n, &q) != 0 ||
	    memcmp(&p, &q, sizeof(p)) != 0)
		abort();
	if (p.res != GW_COAP_RES_OBJECT && memcmp(again, data, size) != 0)
		abort();
	return 0;
}
