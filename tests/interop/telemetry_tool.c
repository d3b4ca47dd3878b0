/*
 * Test helper for telemetry interop and seeds (not installed).
 *
 *   telemetry_tool sample OUT [BUDGET [NFEAT [OPTIONAL]]]
 *       Encodes the reference snapshot (tests/protocol/telemetry_sample.h) into OUT within
 *       BUDGET bytes (default: unlimited) and prints "len= dropped= need_full= need_min=".
 *   telemetry_tool decode IN
 *       Decodes a pack and prints one "key=value" line per field (floats with %.9g), or
 *       "error=<code> <text>" and exits 1.
 *   telemetry_tool corpus DIR
 *       Writes the fuzz seed corpus (tests/fuzz/corpus/telemetry/) reproducibly.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/protocol/telemetry.h"
#include "telemetry_sample.h"

#define PACK_MAX 4096

static int
write_file(const char *path, const uint8_t *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL) {
		fprintf(stderr, "telemetry_tool: cannot create %s\n", path);
		return -1;
	}
	ok = fwrite(p, 1, len, f) == len;
	ok &= fclose(f) == 0;
	return ok ? 0 : -1;
}

static long
parse_num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "telemetry_tool: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

static int
cmd_sample(int argc, char **argv)
{
	static uint8_t buf[PACK_MAX];
	struct tfp_telemetry t;
	struct tfp_telem_enc_info info;
	size_t budget = argc > 3 ? (size_t)parse_num(argv[3]) : sizeof(buf);
	unsigned nfeat = argc > 4 ? (unsigned)parse_num(argv[4]) : 64;
	int opt = argc > 5 ? (int)parse_num(argv[5]) : 1;
	int rc;

	if (budget > sizeof(buf) || nfeat > TFP_TELEM_FEATURES_MAX)
		return 2;
	tf_telemetry_sample(&t, nfeat, opt);
	rc = tfp_telemetry_encode(&t, buf, budget, &info);
	printf("len=%zu dropped=%u need_full=%zu need_min=%zu\n", info.len,
	       (unsigned)info.dropped, info.need_full, info.need_min);
	if (rc != 0) {
		printf("error=%d %s\n", rc, tfp_strerror(rc));
		return 1;
	}
	return write_file(argv[2], buf, info.len) == 0 ? 0 : 1;
}

static int
cmd_decode(const char *path)
{
	static uint8_t buf[65536];
	struct tfp_telemetry t;
	size_t len;
	FILE *f = fopen(path, "rb");
	int rc;

	if (f == NULL) {
		fprintf(stderr, "telemetry_tool: cannot open %s\n", path);
		return 2;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if ((rc = tfp_telemetry_decode(buf, len, &t)) != 0) {
		printf("error=%d %s\n", rc, tfp_strerror(rc));
		return 1;
	}
	printf("device_id=%s\nmodel=%s\nversion=%s\n", t.device_id, t.model, t.version);
	printf("time=%.17g\ntime_relative=%d\n", t.time, t.time_relative);
	printf("samples=%" PRIu32 "\nlabelled=%" PRIu32 "\n", t.samples, t.labelled);
	printf("loss=%.9g\nacc=%.9g\n", t.loss, t.accuracy);
	printf("alarm=%d\nwhy=%" PRIu32 "\n", t.alarm, t.why);
	printf("ph=%.9g\nph_alarm=%d\n", t.ph.score, t.ph.alarm);
	printf("adwin=%.9g\nadwin_alarm=%d\nadwin_w=%" PRIu32 "\n", t.adwin.score,
	       t.adwin.alarm, t.adwin_width);
	printf("ddm=%.9g\nddm_alarm=%d\n", t.ddm.score, t.ddm.alarm);
	printf("psi=%.9g\npsi_max=%.9g\n", t.psi, t.psi_max);
	printf("conf=%.9g\nmargin=%.9g\n", t.conf_mean, t.margin_mean);
	printf("nfeat=%u\noptional=%" PRIu32 "\n", (unsigned)t.n_features, t.optional);
	if (t.optional & TFP_TELEM_OPT_HDDM)
		printf("hddm=%.9g\n", t.hddm.score);
	if (t.optional & TFP_TELEM_OPT_HDDM_ALARM)
		printf("hddm_alarm=%d\n", t.hddm.alarm);
	if (t.optional & TFP_TELEM_OPT_LR)
		printf("lr=%.9g\n", t.lr);
	if (t.optional & TFP_TELEM_OPT_STEPS)
		printf("steps=%" PRIu32 "\n", t.steps);
	for (unsigned i = 0; i < TFP_TELEM_FEATURES_MAX; i++)
		if (t.shift_mask & (UINT64_C(1) << i))
			printf("z%u=%.9g\n", i, t.shift[i]);
	printf("dropped=%u\nunknown_records=%u\nignored_labels=%u\n", (unsigned)t.dropped,
	       (unsigned)t.unknown_records, (unsigned)t.ignored_labels);
	return 0;
}

/* Seeds: complete packs of several shapes and partial packs under several budgets. */
static int
cmd_corpus(const char *dir)
{
	static const struct { unsigned nfeat; int opt; size_t budget; } seeds[] = {
		{ 0, 0, PACK_MAX }, { 4, 1, PACK_MAX }, { 10, 0, PACK_MAX },
		{ 64, 1, PACK_MAX }, { 64, 1, 600 }, { 64, 0, 340 }, { 16, 1, 330 },
	};
	static uint8_t buf[PACK_MAX];
	struct tfp_telemetry t;
	struct tfp_telem_enc_info info;
	char path[4096];

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		tf_telemetry_sample(&t, seeds[i].nfeat, seeds[i].opt);
		if (i % 2 == 1)
			t.time = 3600.5;   /* an uptime clock: relative time, float bt */
		if (tfp_telemetry_encode(&t, buf, seeds[i].budget, &info) != 0)
			return 1;
		snprintf(path, sizeof(path), "%s/seed-%02zu-f%u-o%d-b%zu.cbor", dir, i,
		         seeds[i].nfeat, seeds[i].opt, seeds[i].budget);
		if (write_file(path, buf, info.len) != 0)
			return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "sample") == 0)
		return cmd_sample(argc, argv);
	if (argc == 3 && strcmp(argv[1], "decode") == 0)
		return cmd_decode(argv[2]);
	if (argc == 3 && strcmp(argv[1], "corpus") == 0)
		return cmd_corpus(argv[2]);
	fprintf(stderr, "usage: telemetry_tool sample OUT [BUDGET [NFEAT [OPTIONAL]]] | "
	        "decode IN | corpus DIR\n");
	return 2;
}
