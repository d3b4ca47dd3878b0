/*
 * Rollout commands: create, start, pause, resume, abort, rollback, status, list
 * (the rollout.* operations of schemas/README.md).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static int
terminal(const char *state)
{
	return strcmp(state, "completed") == 0 || strcmp(state, "rolled_back") == 0 ||
	       strcmp(state, "aborted") == 0;
}

void
cli_rollout_progress_line(const json_t *st, char *buf, size_t len)
{
	const json_t *waves = json_object_get(st, "waves");
	double targeted = cli_num(st, "totals.targeted", 0);
	double ok = cli_num(st, "totals.succeeded", 0);
	double sent = cli_num(st, "bytes.sent", 0), full = cli_num(st, "bytes.full_equivalent", 0);
	char bar[21], b1[32], b2[32];
	int filled = targeted > 0 ? (int)(20 * ok / targeted + 0.5) : 0;

	for (int i = 0; i < 20; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[20] = '\0';
	snprintf(buf, len,
	         "%s %s %s: %s wave %.0f/%zu [%s] %.0f/%.0f ok, %.0f in progress, %.0f failed, "
	         "%.0f reverted, %.0f rolled back; sent %s (full images: %s)%s%s",
	         cli_str(st, "id"), cli_str(st, "model"), cli_str(st, "version"),
	         cli_str(st, "state"), cli_num(st, "wave", 0) + 1, json_array_size(waves), bar, ok,
	         targeted,
	         cli_num(st, "totals.in_progress", 0) + cli_num(st, "totals.settling", 0),
	         cli_num(st, "totals.failed", 0), cli_num(st, "totals.reverted", 0),
	         cli_num(st, "totals.rolled_back", 0), cli_bytes(sent, b1, sizeof(b1)),
	         cli_bytes(full, b2, sizeof(b2)), cli_str(st, "reason")[0] ? "; reason " : "",
	         cli_str(st, "reason"));
}

static void
print_status(const json_t *st)
{
	const json_t *waves = json_object_get(st, "waves"), *devs = json_object_get(st, "devices");
	struct cli_table t;
	char line[512];

	cli_rollout_progress_line(st, line, sizeof(line));
	printf("%s\n", line);
	printf("created %s by %s, updated %s\n", cli_str(st, "created_at"),
	       cli_str(st, "created_by"), cli_str(st, "updated_at"));
	if (cli_num(st, "bytes.full_equivalent", 0) > 0)
		printf("bytes: %.0f sent instead of %.0f as full images (%.0f %% saved)\n",
		       cli_num(st, "bytes.sent", 0), cli_num(st, "bytes.full_equivalent", 0),
		       100.0 * (1 - cli_num(st, "bytes.sent", 0) /
		                        cli_num(st, "bytes.full_equivalent", 1)));
	printf("\n");
	cli_table_init(&t, 7, "WAVE", "KIND", "SHARE", "DEVICES", "STATE", "OK/FAILED", "GATES");
	for (size_t k = 0; k < json_array_size(waves); k++) {
		const json_t *w = json_array_get(waves, k), *gates = json_object_get(w, "gates");
		char gl[256] = "", okf[32];
		size_t used = 0;
		for (size_t g = 0; g < json_array_size(gates) && used < sizeof(gl); g++) {
			const json_t *x = json_array_get(gates, g);
			used += (size_t)snprintf(gl + used, sizeof(gl) - used, "%s%s %g/%g%s",
			                         g ? ", " : "", cli_str(x, "gate"), cli_num(x, "value", 0),
			                         cli_num(x, "limit", 0), cli_bool(x, "ok") ? "" : " FAIL");
		}
		snprintf(okf, sizeof(okf), "%.0f/%.0f", cli_num(w, "counts.succeeded", 0),
		         cli_num(w, "counts.failed", 0) + cli_num(w, "counts.reverted", 0));
		cli_table_row(&t, cli_int(w, "index"), cli_str(w, "kind"),
		              cli_f(cli_num(w, "share", 0), 1), cli_int(w, "devices"),
		              cli_str(w, "state"), okf, cli_or(gl, "-"));
	}
	cli_table_print(&t);
	if (json_array_size(devs) == 0)
		return;
	printf("\n");
	cli_table_init(&t, 7, "DEVICE", "WAVE", "STATE", "REASON", "FROM", "TRANSFER", "BYTES");
	for (size_t k = 0; k < json_array_size(devs); k++) {
		const json_t *d = json_array_get(devs, k);
		char wave[16];
		snprintf(wave, sizeof(wave), json_is_number(json_object_get(d, "wave")) ? "%.0f" : "-",
		         cli_num(d, "wave", 0));
		cli_table_row(&t, cli_str(d, "id"), wave, cli_str(d, "state"),
		              cli_or(cli_str(d, "reason"), "-"),
		              cli_or(cli_str(d, "from_version"), "-"),
		              cli_or(cli_str(d, "transfer"), "-"), cli_int(d, "bytes_sent"));
	}
	cli_table_print(&t);
}

static json_t *
list_of(const char *csv, int numbers)
{
	json_t *a = json_array();
	char *copy = strdup(csv), *save = NULL;
	for (char *p = strtok_r(copy, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save))
		json_array_append_new(a, numbers ? json_real(strtod(p, NULL)) : json_string(p));
	free(copy);
	return a;
}

/* rollout create: a definition file, or one built from flags. */
static json_t *
definition(int argc, char **argv)
{
	json_t *def = NULL, *target = json_object();
	const char *id = NULL, *model = NULL, *version = NULL, *onfail = "rollback_all";
	const char *canary = "1", *stages = "100";
	json_int_t settle = -1;
	int i;

	for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--all") == 0) {
			json_object_set_new(target, "all", json_true());
			continue;
		}
		if (v == NULL)
			cli_usage("rollout");
		i++;
		if (strcmp(a, "--id") == 0)
			id = v;
		else if (strcmp(a, "--model") == 0)
			model = v;
		else if (strcmp(a, "--version") == 0)
			version = v;
		else if (strcmp(a, "--canary") == 0)
			canary = v;
		else if (strcmp(a, "--stages") == 0)
			stages = v;
		else if (strcmp(a, "--on-failure") == 0)
			onfail = v;
		else if (strcmp(a, "--settle") == 0)
			settle = (json_int_t)cli_number(a, v);
		else if (strcmp(a, "--class") == 0)
			json_object_set_new(target, "classes", list_of(v, 0));
		else if (strcmp(a, "--tags") == 0)
			json_object_set_new(target, "tags", list_of(v, 0));
		else if (strcmp(a, "--devices") == 0)
			json_object_set_new(target, "devices", list_of(v, 0));
		else
			cli_usage("rollout");
	}
	if (argc - i == 1) { /* a definition file ("-": stdin) */
		size_t len;
		json_error_t je;
		uint8_t *text = cli_slurp(argv[i], &len);
		def = json_loadb((const char *)text, len, 0, &je);
		free(text);
		if (!json_is_object(def)) {
			cli_err("%s: not a JSON object: line %d: %s", argv[i], je.line, je.text);
			exit(CLI_EXIT_USAGE);
		}
		if (id != NULL)
			json_object_set_new(def, "id", json_string(id));
		json_decref(target);
		return def;
	}
	if (argc != i || model == NULL || version == NULL || json_object_size(target) == 0) {
		cli_err("rollout create needs a definition file, or --model, --version and a "
		        "target (--all, --class, --tags or --devices)");
		cli_usage("rollout");
	}
	def = json_pack("{s:s,s:s,s:o,s:{s:{},s:o},s:s}", "model", model, "version", version,
	                "target", target, "waves", "canary", "stages", list_of(stages, 1),
	                "on_gate_failure", onfail);
	if (strchr(canary, '%') != NULL)
		json_object_set_new(json_object_get(json_object_get(def, "waves"), "canary"), "share",
		                    json_real(strtod(canary, NULL)));
	else
		json_object_set_new(json_object_get(json_object_get(def, "waves"), "canary"), "count",
		                    json_integer((json_int_t)cli_number("--canary", canary)));
	if (id != NULL)
		json_object_set_new(def, "id", json_string(id));
	if (settle >= 0)
		json_object_set_new(def, "settle_seconds", json_integer(settle));
	return def;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int
cmd_rollout(const struct cli_opts *o, int argc, char **argv)
{
	struct cli_mqtt m;
	json_t *req = NULL, *res = NULL;
	const char *sub = argc > 0 ? argv[0] : "";
	char op[32];
	int i, rc, wait = 0;

	if (argc < 1)
		cli_usage("rollout");
	snprintf(op, sizeof(op), "rollout.%s", sub);
	argc--, argv++;
	if (strcmp(sub, "create") == 0) {
		req = definition(argc, argv);
	} else if (strcmp(sub, "list") == 0) {
		req = json_object();
		for (i = 0; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
			if (strcmp(argv[i], "--state") == 0)
				json_object_set_new(req, "state", json_string(argv[i + 1]));
			else if (strcmp(argv[i], "--model") == 0)
				json_object_set_new(req, "model", json_string(argv[i + 1]));
			else
				cli_usage("rollout");
		}
		if (i != argc)
			cli_usage("rollout");
	} else if (strcmp(sub, "start") == 0 || strcmp(sub, "pause") == 0 ||
	           strcmp(sub, "resume") == 0 || strcmp(sub, "abort") == 0 ||
	           strcmp(sub, "rollback") == 0 || strcmp(sub, "status") == 0) {
		if (argc < 1 || argv[0][0] == '-')
			cli_usage("rollout");
		req = json_pack("{s:s}", "id", argv[0]);
		for (i = 1; i < argc; i++) {
			const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
			if (strcmp(sub, "status") == 0 && strcmp(a, "--devices") == 0) {
				json_object_set_new(req, "devices", json_true());
			} else if (strcmp(sub, "status") == 0 && strcmp(a, "--wait") == 0) {
				wait = 1;
			} else if (v == NULL) {
				cli_usage("rollout");
			} else if (strcmp(sub, "status") == 0 && strcmp(a, "--state") == 0) {
				json_object_set_new(req, "devices", json_true());
				json_object_set_new(req, "state", json_string(v)), i++;
			} else if (strcmp(sub, "status") != 0 && strcmp(a, "--message") == 0) {
				json_object_set_new(req, "message", json_string(v)), i++;
			} else if (strcmp(sub, "rollback") == 0 && strcmp(a, "--scope") == 0) {
				json_object_set_new(req, "scope", json_string(v)), i++;
			} else {
				cli_usage("rollout");
			}
		}
	} else {
		cli_err("unknown rollout command '%s'", sub);
		cli_usage("rollout");
	}

	if ((rc = cli_mqtt_connect(&m, o)) != 0)
		goto out;
	rc = cli_request(&m, op, req, &res);
	if (rc == 0 && wait) {
		/* --wait: follow until the rollout ends or pauses, one line per change. */
		char line[512], last[512] = "";
		json_t *plain = json_pack("{s:O}", "id", json_object_get(req, "id"));
		for (;;) {
			const char *state = cli_str(res, "state");
			cli_rollout_progress_line(res, line, sizeof(line));
			if (strcmp(line, last) != 0 && !o->json) {
				printf("%s\n", line);
				fflush(stdout);
				snprintf(last, sizeof(last), "%s", line);
			}
			if (terminal(state) || strcmp(state, "paused") == 0 ||
			    strcmp(state, "draft") == 0)
				break;
			sleep_ms(1000);
			json_decref(res);
			res = NULL;
			if ((rc = cli_request(&m, op, plain, &res)) != 0)
				break;
		}
		json_decref(plain);
	}
	cli_mqtt_close(&m);
	if (rc != 0)
		goto out;
	if (o->json) {
		cli_print_json(res);
	} else if (strcmp(sub, "status") == 0) {
		if (!wait)
			print_status(res);
		else
			printf("rollout %s ended %s%s%s\n", cli_str(res, "id"), cli_str(res, "state"),
			       cli_str(res, "reason")[0] ? ": " : "", cli_str(res, "reason"));
	} else if (strcmp(sub, "create") == 0) {
		const json_t *r = json_object_get(res, "rollout");
		printf("rollout %s %s: %s %s, %s; %.0f device(s) targeted, %.0f skipped\n",
		       cli_str(r, "id"), cli_bool(res, "created") ? "created" : "exists (same definition)",
		       cli_str(r, "model"), cli_str(r, "version"), cli_str(r, "state"),
		       cli_num(r, "totals.targeted", 0), cli_num(r, "totals.skipped", 0));
		printf("start it with: tinyfleet rollout start %s\n", cli_str(r, "id"));
	} else if (strcmp(sub, "list") == 0) {
		struct cli_table t;
		const json_t *items = json_object_get(res, "items");
		cli_table_init(&t, 5, "ROLLOUT", "MODEL", "VERSION", "STATE", "WAVE");
		for (size_t k = 0; k < json_array_size(items); k++) {
			const json_t *x = json_array_get(items, k);
			cli_table_row(&t, cli_str(x, "id"), cli_str(x, "model"), cli_str(x, "version"),
			              cli_str(x, "state"), cli_int(x, "wave"));
		}
		cli_table_print(&t);
	} else {
		printf("rollout %s: %s -> %s%s\n", cli_str(res, "id"), cli_str(res, "previous_state"),
		       cli_str(res, "state"), cli_bool(res, "changed") ? "" : " (no change)");
	}
out:
	json_decref(req);
	json_decref(res);
	return rc;
}
