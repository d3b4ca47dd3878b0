/*
 * Fleet commands: devices (device.list with filters, device.get) and status (fleet.status).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void
print_device(const json_t *d)
{
	const json_t *slots = json_object_get(d, "slots"), *tags = json_object_get(d, "tags");
	const json_t *sensors = json_object_get(d, "sensors");
	size_t i;

	printf("device     %s (%s), %s, last seen %s\n", cli_str(d, "id"), cli_str(d, "class"),
	       cli_bool(d, "online") ? "online" : "offline", cli_str(d, "last_seen"));
	printf("agent      %s (ABI %.0f); RAM %.0f B, flash %.0f B; sensors", cli_str(d, "agent.version"),
	       cli_num(d, "agent.abi", 0), cli_num(d, "ram_bytes", 0), cli_num(d, "flash_bytes", 0));
	for (i = 0; i < json_array_size(sensors); i++)
		printf("%s%s", i ? "," : " ", json_string_value(json_array_get(sensors, i)));
	printf("\ntags       %s", json_array_size(tags) == 0 ? "(none)" : "");
	for (i = 0; i < json_array_size(tags); i++)
		printf("%s%s", i ? " " : "", json_string_value(json_array_get(tags, i)));
	printf("\nmodel      %s %s%s\n", cli_or(cli_str(d, "model.name"), "(none)"),
	       cli_str(d, "model.version"), cli_bool(d, "drifting") ? ", DRIFTING" : "");
	for (i = 0; i < json_array_size(slots); i++) {
		const json_t *s = json_array_get(slots, i);
		printf("slot %s%s    %s %s %s\n", cli_str(s, "slot"),
		       strcmp(cli_str(s, "slot"), cli_str(d, "active_slot")) == 0 ? "*" : " ",
		       cli_str(s, "state"), cli_str(s, "model"), cli_str(s, "version"));
	}
	if (json_is_object(json_object_get(d, "metrics")))
		printf("metrics    %.0f samples, accuracy %.3f, loss %.3f, confidence %.3f, "
		       "drift alarm %s\n",
		       cli_num(d, "metrics.samples", 0), cli_num(d, "metrics.accuracy_avg", 0),
		       cli_num(d, "metrics.loss_avg", 0), cli_num(d, "metrics.confidence_avg", 0),
		       cli_bool(d, "metrics.drift_alarm") ? "yes" : "no");
	if (json_is_object(json_object_get(d, "rollout")))
		printf("rollout    %s: %s\n", cli_str(d, "rollout.id"), cli_str(d, "rollout.state"));
}

/* "--can-run MODEL@VERSION" into {"model":..., "version":...}. */
static json_t *
can_run(const char *v)
{
	const char *at = strchr(v, '@');
	if (at == NULL || at == v || at[1] == '\0') {
		cli_err("--can-run takes MODEL@VERSION, not '%s'", v);
		exit(CLI_EXIT_USAGE);
	}
	return json_pack("{s:s%,s:s}", "model", v, (size_t)(at - v), "version", at + 1);
}

int
cmd_devices(const struct cli_opts *o, int argc, char **argv)
{
	struct cli_mqtt m;
	struct cli_table t;
	json_t *req = json_object(), *res = NULL, *all = json_array(), *tags = json_array();
	const char *op = "device.list";
	size_t max = SIZE_MAX;
	int i, rc;

	for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--online") == 0 || strcmp(a, "--offline") == 0) {
			json_object_set_new(req, "online", json_boolean(a[3] == 'n'));
			continue;
		}
		if (strcmp(a, "--drifting") == 0) {
			json_object_set_new(req, "drifting", json_true());
			continue;
		}
		if (v == NULL)
			cli_usage("devices");
		i++;
		if (strcmp(a, "--class") == 0)
			json_object_set_new(req, "class", json_string(v));
		else if (strcmp(a, "--model") == 0)
			json_object_set_new(req, "model", json_string(v));
		else if (strcmp(a, "--version") == 0)
			json_object_set_new(req, "version", json_string(v));
		else if (strcmp(a, "--tag") == 0)
			json_array_append_new(tags, json_string(v));
		else if (strcmp(a, "--can-run") == 0)
			json_object_set_new(req, "can_run", can_run(v));
		else if (strcmp(a, "--limit") == 0)
			max = (size_t)cli_number(a, v);
		else
			cli_usage("devices");
	}
	if (json_array_size(tags) > 0)
		json_object_set(req, "tags", tags);
	if (argc - i > 1)
		cli_usage("devices");
	if (argc - i == 1) {
		op = "device.get";
		json_object_clear(req);
		json_object_set_new(req, "id", json_string(argv[i]));
	}
	if ((rc = cli_mqtt_connect(&m, o)) != 0)
		goto out;
	if (strcmp(op, "device.get") == 0)
		rc = cli_request(&m, op, req, &res);
	else
		rc = cli_request_pages(&m, op, req, max, all, &res);
	cli_mqtt_close(&m);
	if (rc != 0)
		goto out;
	if (strcmp(op, "device.get") == 0) {
		if (o->json)
			cli_print_json(res);
		else
			print_device(res);
		goto out;
	}
	if (o->json) {
		cli_print_json(all);
		goto out;
	}
	cli_table_init(&t, 8, "ID", "CLASS", "ONLINE", "MODEL", "VERSION", "DRIFT", "ACCURACY",
	               "ROLLOUT");
	for (size_t k = 0; k < json_array_size(all) && k < max; k++) {
		const json_t *d = json_array_get(all, k);
		const json_t *acc_v = json_object_get(json_object_get(d, "metrics"), "accuracy_avg");
		char ro[80];
		snprintf(ro, sizeof(ro), "%s%s%s", cli_str(d, "rollout.id"),
		         json_is_object(json_object_get(d, "rollout")) ? ":" : "-",
		         cli_str(d, "rollout.state"));
		cli_table_row(&t, cli_str(d, "id"), cli_str(d, "class"),
		              cli_bool(d, "online") ? "yes" : "no",
		              cli_or(cli_str(d, "model.name"), "-"),
		              cli_or(cli_str(d, "model.version"), "-"),
		              cli_bool(d, "drifting") ? "DRIFT" : "-",
		              json_is_number(acc_v) ? cli_f(json_number_value(acc_v), 3) : "-", ro);
	}
	cli_table_print(&t);
	printf("%zu of %.0f device(s)\n", json_array_size(all) < max ? json_array_size(all) : max,
	       cli_num(res, "total", (double)json_array_size(all)));
out:
	json_decref(req);
	json_decref(res);
	json_decref(all);
	json_decref(tags);
	return rc;
}

int
cmd_status(const struct cli_opts *o, int argc, char **argv)
{
	struct cli_mqtt m;
	struct cli_table t;
	json_t *req = json_object(), *res = NULL;
	const json_t *list;
	int rc;

	(void)argv;
	if (argc != 0)
		cli_usage("status");
	if ((rc = cli_mqtt_connect(&m, o)) == 0)
		rc = cli_request(&m, "fleet.status", req, &res);
	cli_mqtt_close(&m);
	json_decref(req);
	if (rc != 0)
		return rc;
	if (o->json) {
		cli_print_json(res);
		json_decref(res);
		return 0;
	}
	printf("site %s at %s; gateway %s, up since %s\n", cli_str(res, "site"),
	       cli_str(res, "at"), cli_str(res, "gateway.version"),
	       cli_str(res, "gateway.started_at"));
	printf("devices: %.0f total, %.0f online, %.0f drifting, %.0f updating\n\n",
	       cli_num(res, "devices.total", 0), cli_num(res, "devices.online", 0),
	       cli_num(res, "devices.drifting", 0), cli_num(res, "devices.updating", 0));
	list = json_object_get(res, "models");
	cli_table_init(&t, 5, "MODEL", "VERSION", "DEVICES", "ONLINE", "DRIFTING");
	for (size_t k = 0; k < json_array_size(list); k++) {
		const json_t *x = json_array_get(list, k);
		cli_table_row(&t, cli_str(x, "name"), cli_str(x, "version"), cli_int(x, "devices"),
		              cli_int(x, "online"), cli_int(x, "drifting"));
	}
	cli_table_print(&t);
	list = json_object_get(res, "rollouts");
	if (json_array_size(list) > 0) {
		printf("\n");
		cli_table_init(&t, 5, "ROLLOUT", "MODEL", "VERSION", "STATE", "WAVE");
		for (size_t k = 0; k < json_array_size(list); k++) {
			const json_t *x = json_array_get(list, k);
			cli_table_row(&t, cli_str(x, "id"), cli_str(x, "model"), cli_str(x, "version"),
			              cli_str(x, "state"), cli_int(x, "wave"));
		}
		cli_table_print(&t);
	}
	json_decref(res);
	return 0;
}
