/*
 * watch: the site's live events (tf/<site>/events/#) one line each, and the progress of
 * rollouts from their retained status (tf/<site>/status/rollout/<id>).
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
print_event(const json_t *ev)
{
	const char *kind = cli_str(ev, "event"), *at = cli_str(ev, "at");
	const json_t *d = json_object_get(ev, "data");
	char b1[32], b2[32];

	/* "2026-11-24T10:01:30Z" -> "10:01:30" */
	printf("%.8s %-15s ", strlen(at) >= 19 ? at + 11 : at, kind);
	if (strcmp(kind, "device.online") == 0) {
		printf("%s (%s) online, running %s %s%s\n", cli_str(d, "device"), cli_str(d, "class"),
		       cli_str(d, "model")[0] ? cli_str(d, "model") : "no model", cli_str(d, "version"),
		       cli_bool(d, "first_time") ? ", first time" : "");
	} else if (strcmp(kind, "device.offline") == 0) {
		printf("%s offline (%s)\n", cli_str(d, "device"), cli_str(d, "cause"));
	} else if (strcmp(kind, "update.progress") == 0) {
		printf("%s %s %s: %s %s/%s\n", cli_str(d, "device"), cli_str(d, "model"),
		       cli_str(d, "version"), cli_str(d, "phase"),
		       cli_bytes(cli_num(d, "bytes_done", 0), b1, sizeof(b1)),
		       cli_bytes(cli_num(d, "bytes_total", 0), b2, sizeof(b2)));
	} else if (strcmp(kind, "update.result") == 0) {
		printf("%s %s %s -> %s: %s", cli_str(d, "device"), cli_str(d, "model"),
		       cli_str(d, "from_version")[0] ? cli_str(d, "from_version") : "-",
		       cli_str(d, "version"), cli_str(d, "outcome"));
		if (cli_str(d, "reason")[0])
			printf(" (%s)", cli_str(d, "reason"));
		if (cli_num(d, "full_bytes", 0) > 0)
			printf(", %s %s instead of %s", cli_str(d, "transfer"),
			       cli_bytes(cli_num(d, "bytes_sent", 0), b1, sizeof(b1)),
			       cli_bytes(cli_num(d, "full_bytes", 0), b2, sizeof(b2)));
		printf("\n");
	} else if (strcmp(kind, "drift.alert") == 0) {
		printf("%s %s %s: %s %s, score %g vs %g, action %s\n",
		       strcmp(cli_str(d, "scope"), "device") == 0 ? cli_str(d, "device") : "fleet",
		       cli_str(d, "model"), cli_str(d, "version"), cli_str(d, "detector"),
		       cli_str(d, "state"), cli_num(d, "score", 0), cli_num(d, "threshold", 0),
		       cli_str(d, "action"));
	} else if (strcmp(kind, "rollout.state") == 0) {
		printf("%s (%s %s): %s -> %s, wave %.0f, %s, by %s\n", cli_str(d, "rollout"),
		       cli_str(d, "model"), cli_str(d, "version"), cli_str(d, "from"),
		       cli_str(d, "to"), cli_num(d, "wave", 0), cli_str(d, "reason"),
		       cli_str(d, "by"));
	} else {
		char *text = json_dumps(d, JSON_COMPACT);
		printf("%s\n", text != NULL ? text : "");
		free(text);
	}
}

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
cmd_watch(const struct cli_opts *o, int argc, char **argv)
{
	struct cli_mqtt m;
	const char *rollout = NULL;
	char filter[256], last[512] = "";
	long long until = 0;
	long count = -1, seen = 0;
	int i, rc;

	for (i = 0; i < argc; i += 2) {
		if (i + 1 >= argc)
			cli_usage("watch");
		if (strcmp(argv[i], "--rollout") == 0)
			rollout = argv[i + 1];
		else if (strcmp(argv[i], "--for") == 0)
			until = now_ms() + 1000 * (long long)cli_number(argv[i], argv[i + 1]);
		else if (strcmp(argv[i], "--count") == 0)
			count = (long)cli_number(argv[i], argv[i + 1]);
		else
			cli_usage("watch");
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if ((rc = cli_mqtt_connect(&m, o)) != 0)
		return rc;
	snprintf(filter, sizeof(filter), "tf/%s/events/#", o->site);
	if ((rc = cli_mqtt_subscribe(&m, filter)) != 0)
		goto out;
	snprintf(filter, sizeof(filter), "tf/%s/status/rollout/%s", o->site,
	         rollout != NULL ? rollout : "+");
	if ((rc = cli_mqtt_subscribe(&m, filter)) != 0)
		goto out;
	if (!o->json)
		fprintf(stderr, "watching site %s%s%s (Ctrl-C to stop)\n", o->site,
		        rollout ? ", rollout " : "", rollout ? rollout : "");
	while (!stop && (count < 0 || seen < count)) {
		char *topic = NULL, *payload = NULL, line[512];
		int retained = 0, wait_ms = 500, got;
		json_t *doc;

		if (until != 0) {
			long long left = until - now_ms();
			if (left <= 0)
				break;
			wait_ms = left < 500 ? (int)left : 500;
		}
		if ((got = cli_mqtt_next(&m, wait_ms, &topic, &payload, &retained)) != 1) {
			rc = got == 0 ? 0 : got;
			if (rc != 0)
				break;
			continue;
		}
		doc = json_loads(payload, 0, NULL);
		if (o->json) {
			json_t *line_doc = json_pack("{s:s,s:b,s:o?}", "topic", topic, "retained",
			                             retained, "message", json_incref(doc));
			char *text = json_dumps(line_doc, JSON_COMPACT);
			printf("%s\n", text);
			free(text);
			json_decref(line_doc);
			if (strstr(topic, "/events/") != NULL)
				seen++;
		} else if (strstr(topic, "/status/rollout/") != NULL) {
			if (json_is_object(doc)) {
				cli_rollout_progress_line(doc, line, sizeof(line));
				if (strcmp(line, last) != 0)
					printf("progress        %s\n", line);
				snprintf(last, sizeof(last), "%s", line);
			}
		} else if (json_is_object(doc)) {
			const json_t *d = json_object_get(doc, "data");
			const char *r = cli_str(d, "rollout");
			if (rollout == NULL || strcmp(r, rollout) == 0) {
				print_event(doc);
				seen++;
			}
		}
		fflush(stdout);
		json_decref(doc);
		free(topic);
		free(payload);
	}
out:
	cli_mqtt_close(&m);
	return rc;
}
