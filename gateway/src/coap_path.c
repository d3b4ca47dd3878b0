/* CoAP resource paths (see coap_path.h). */
#include "coap_path.h"

#include <errno.h>
#include <string.h>

static const char *const res_names[] = {
	[GW_COAP_RES_STATE] = "state",         [GW_COAP_RES_CONN] = "conn",
	[GW_COAP_RES_TELEMETRY] = "telemetry", [GW_COAP_RES_REPORT] = "report",
	[GW_COAP_RES_CMD] = "cmd",             [GW_COAP_RES_OBJECT] = "obj",
};

const char *
gw_coap_res_name(enum gw_coap_res r)
{
	return (unsigned)r < sizeof(res_names) / sizeof(res_names[0]) ? res_names[r] : "?";
}

static int
id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Whether segment [s, s+n) equals the NUL-terminated word w. */
static int
seg_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

int
gw_coap_path_parse(const char *path, size_t len, struct gw_coap_path *out)
{
	const char *seg[4];
	size_t seglen[4], nseg = 0, start = 0;

	if (path == NULL || out == NULL || len == 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	/* Split into at most three non-empty segments. */
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/') {
			if (path[i] == '\0')
				return -EINVAL;
			continue;
		}
		if (i == start || nseg == 3)
			return -EINVAL;   /* empty segment, or too many */
		seg[nseg] = path + start;
		seglen[nseg++] = i - start;
		start = i + 1;
	}
	if (nseg == 2 && seg_is(seg[0], seglen[0], "obj")) {
		if (seglen[1] != 2 * TFP_DIGEST_LEN)
			return -EINVAL;
		for (size_t i = 0; i < TFP_DIGEST_LEN; i++) {
			int hi = hex_val(seg[1][2 * i]), lo = hex_val(seg[1][2 * i + 1]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			out->object_id[i] = (uint8_t)(hi << 4 | lo);
		}
		out->res = GW_COAP_RES_OBJECT;
		return 0;
	}
	if (nseg != 3 || !seg_is(seg[0], seglen[0], "dev") || seglen[1] > TFP_DEVICE_ID_MAX ||
	    seg_is(seg[1], seglen[1], ".") || seg_is(seg[1], seglen[1], ".."))
		return -EINVAL;
	for (size_t i = 0; i < seglen[1]; i++)
		if (!id_char(seg[1][i]))
			return -EINVAL;
	for (unsigned r = GW_COAP_RES_STATE; r <= GW_COAP_RES_CMD; r++) {
		if (seg_is(seg[2], seglen[2], res_names[r])) {
			memcpy(out->device_id, seg[1], seglen[1]);
			out->device_id[seglen[1]] = '\0';
			out->res = (enum gw_coap_res)r;
			return 0;
		}
	}
	return -EINVAL;
}
