/*
 * Cost of the device-plane message codecs on this machine.
 *
 * For each committed example (schemas/examples/msg-*.hex) it times, per message:
 *   - our strict decode (tfp_msg_peek_type, then the type's decoder into a fixed struct),
 *   - our encode of the decoded struct,
 *   - the baseline: libcbor's generic cbor_load() + cbor_decref() of the same bytes, which
 *     allocates a tree and checks nothing beyond well-formedness.
 * Usage: bench_msg [iterations]   (default 200000)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cbor.h>

#include "tinyfleet/protocol/msg_chunk.h"
#include "tinyfleet/protocol/msg_command.h"
#include "tinyfleet/protocol/msg_report.h"
#include "tinyfleet/protocol/msg_state.h"

static const char *const names[] = {
	"state", "update-full", "update-delta", "rollback", "config", "chunk-request",
	"chunk-response", "progress", "result-ok", "result-refused",
};

union any {
	struct tfp_state s;
	struct tfp_command c;
	struct tfp_chunk_request q;
	struct tfp_chunk_response p;
	struct tfp_report r;
};

static volatile int sink;

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long
load_hex(const char *name, uint8_t *out, size_t cap)
{
	char path[1024];
	FILE *f;
	int c, half = -1, comment = 0;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/schemas/examples/msg-%s.hex", TF_SOURCE_DIR, name);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while ((c = fgetc(f)) != EOF) {
		int v;
		if (comment || c == '#') {
			comment = c != '\n';
			continue;
		}
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			continue;
		if (half < 0) {
			half = v;
		} else if (n < cap) {
			out[n++] = (uint8_t)(half << 4 | v);
			half = -1;
		}
	}
	fclose(f);
	return (long)n;
}

static int
decode(const uint8_t *buf, size_t len, union any *m, enum tfp_msg_type *type)
{
	int rc = tfp_msg_peek_type(buf, len, type);
	if (rc != 0)
		return rc;
	switch (*type) {
	case TFP_MSG_STATE: return tfp_state_decode(buf, len, &m->s);
	case TFP_MSG_UPDATE:
	case TFP_MSG_ROLLBACK:
	case TFP_MSG_CONFIG: return tfp_command_decode(buf, len, &m->c);
	case TFP_MSG_CHUNK_REQUEST: return tfp_chunk_request_decode(buf, len, &m->q);
	case TFP_MSG_CHUNK_RESPONSE: return tfp_chunk_response_decode(buf, len, &m->p);
	default: return tfp_report_decode(buf, len, &m->r);
	}
}

static int
encode(enum tfp_msg_type type, const union any *m, uint8_t *out, size_t cap, size_t *len)
{
	switch (type) {
	case TFP_MSG_STATE: return tfp_state_encode(&m->s, out, cap, len);
	case TFP_MSG_UPDATE:
	case TFP_MSG_ROLLBACK:
	case TFP_MSG_CONFIG: return tfp_command_encode(&m->c, out, cap, len);
	case TFP_MSG_CHUNK_REQUEST: return tfp_chunk_request_encode(&m->q, out, cap, len);
	case TFP_MSG_CHUNK_RESPONSE: return tfp_chunk_response_encode(&m->p, out, cap, len);
	default: return tfp_report_encode(&m->r, out, cap, len);
	}
}

int
main(int argc, char **argv)
{
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	uint8_t msg[4096], out[4096];

	if (iters <= 0)
		iters = 200000;
	printf("%-15s %6s %12s %12s %16s %8s\n", "message", "bytes", "decode ns", "encode ns",
	       "libcbor load ns", "ratio");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		long len = load_hex(names[i], msg, sizeof(msg));
		union any m;
		enum tfp_msg_type type;
		size_t olen;
		double t0, t_dec, t_enc, t_lib;

		if (len <= 0 || decode(msg, (size_t)len, &m, &type) != 0) {
			fprintf(stderr, "bench_msg: cannot load example %s\n", names[i]);
			return 1;
		}
		t0 = now();
		for (long k = 0; k < iters; k++)
			sink += decode(msg, (size_t)len, &m, &type);
		t_dec = (now() - t0) / (double)iters * 1e9;
		t0 = now();
		for (long k = 0; k < iters; k++)
			sink += encode(type, &m, out, sizeof(out), &olen);
		t_enc = (now() - t0) / (double)iters * 1e9;
		t0 = now();
		for (long k = 0; k < iters; k++) {
			struct cbor_load_result res;
			cbor_item_t *item = cbor_load(msg, (size_t)len, &res);
			sink += res.error.code;
			cbor_decref(&item);
		}
		t_lib = (now() - t0) / (double)iters * 1e9;
		printf("%-15s %6ld %12.0f %12.0f %16.0f %8.2f\n", names[i], len, t_dec, t_enc, t_lib,
		       t_dec / t_lib);
	}
	printf("(ratio = our strict decode time / libcbor cbor_load+decref time; %ld iterations)\n",
	       iters);
	return 0;
}
