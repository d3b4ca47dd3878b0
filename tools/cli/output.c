/*
 * Output: aligned tables for people, JSON for scripts, and errors that say what to do.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void
cli_err(const char *fmt, ...)
{
	va_list ap;
	fputs("tinyfleet: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
cli_table_init(struct cli_table *t, int ncols, ...)
{
	va_list ap;
	memset(t, 0, sizeof(*t));
	t->ncols = ncols < CLI_TABLE_COLS ? ncols : CLI_TABLE_COLS;
	va_start(ap, ncols);
	for (int i = 0; i < t->ncols; i++)
		t->head[i] = va_arg(ap, const char *);
	va_end(ap);
}

void
cli_table_row(struct cli_table *t, ...)
{
	va_list ap;
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->cells = realloc(t->cells, sizeof(char *) * (size_t)t->cap * (size_t)t->ncols);
		if (t->cells == NULL) {
			cli_err("out of memory");
			exit(CLI_EXIT_IO);
		}
	}
	va_start(ap, t);
	for (int i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);
		t->cells[t->nrows * t->ncols + i] = strdup(s != NULL ? s : "");
	}
	va_end(ap);
	t->nrows++;
}

const char *
cli_f(double v, int decimals)
{
	static char ring[32][32];
	static unsigned next;
	char *b = ring[next++ % 32];
	snprintf(b, sizeof(ring[0]), "%.*f", decimals, v);
	return b;
}

const char *
cli_int(const json_t *o, const char *path)
{
	return cli_f(cli_num(o, path, 0), 0);
}

const char *
cli_or(const char *s, const char *dflt)
{
	return s != NULL && s[0] != '\0' ? s : dflt;
}

void
cli_table_print(struct cli_table *t)
{
	size_t w[CLI_TABLE_COLS];
	for (int c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->head[c]);
		for (int r = 0; r < t->nrows; r++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);
			w[c] = n > w[c] ? n : w[c];
		}
	}
	for (int r = -1; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *s = r < 0 ? t->head[c] : t->cells[r * t->ncols + c];
			if (c == t->ncols - 1)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)w[c], s);
		}
	}
	for (int i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

void
cli_print_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

static const json_t *
walk(const json_t *o, const char *path)
{
	char part[64];
	while (o != NULL && *path != '\0') {
		const char *dot = strchr(path, '.');
		size_t n = dot != NULL ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		o = json_object_get(o, part);
		path += n + (dot != NULL);
	}
	return o;
}

const char *
cli_str(const json_t *o, const char *path)
{
	const char *s = json_string_value(walk(o, path));
	return s != NULL ? s : "";
}

double
cli_num(const json_t *o, const char *path, double dflt)
{
	const json_t *v = walk(o, path);
	return json_is_number(v) ? json_number_value(v) : dflt;
}

int
cli_bool(const json_t *o, const char *path)
{
	return json_is_true(walk(o, path));
}

const char *
cli_bytes(double n, char *buf, size_t len)
{
	if (n < 1024)
		snprintf(buf, len, "%.0f B", n);
	else if (n < 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", n / 1024);
	else
		snprintf(buf, len, "%.1f MiB", n / (1024 * 1024));
	return buf;
}

static const struct {
	const char *code, *hint;
} hints[] = {
	{ "bad_json", "the request was not JSON; if you passed a file, check it with jq" },
	{ "invalid_request", "details.path and details.keyword name the offending member; "
	                     "compare with schemas/operator/" },
	{ "unknown_operation", "this gateway does not implement the operation yet; upgrade "
	                       "tinyfleetd or check the gateway version with `tinyfleet status`" },
	{ "not_authorized", "ask the gateway's administrator to allow your certificate's CN" },
	{ "not_found", "check the name with `tinyfleet models`, `tinyfleet devices` or "
	               "`tinyfleet rollout list`" },
	{ "conflict", "that id or version exists with other content: pick a new rollout id or "
	              "release a new version" },
	{ "invalid_state", "the rollout's state does not allow this; see `tinyfleet rollout "
	                   "status ID`" },
	{ "bad_signature", "the manifest was not signed by the key it names, or was changed: "
	                   "sign again with `tinyfleet model sign`" },
	{ "unknown_key", "the gateway does not trust this release key: add its public half to "
	                 "the gateway's release_keys" },
	{ "expired", "the manifest is past its expiry: sign again with a later --expires" },
	{ "manifest_invalid", "the manifest file is not a COSE_Sign1 manifest: sign again" },
	{ "digest_mismatch", "the container is not the one the manifest was signed for: publish "
	                     "the matching pair, or sign this container" },
	{ "size_mismatch", "the container is not the one the manifest was signed for" },
	{ "sequence_conflict", "sign with a --seq above every published version of the model "
	                       "(see `tinyfleet models NAME`)" },
	{ "too_large", "a member is over its limit (details.limit)" },
	{ "no_matching_devices", "the target selects no device that can run the model: check "
	                         "`tinyfleet devices --can-run MODEL@VERSION`" },
	{ "busy", "the gateway is busy: retry after details.retry_after seconds" },
	{ "storage_full", "the gateway's store is full: free space or raise store.map_size_mb" },
	{ "internal", "a gateway bug: the gateway log has more" },
};

const char *
cli_error_hint(const char *code)
{
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (strcmp(hints[i].code, code) == 0)
			return hints[i].hint;
	return "see the error codes in schemas/README.md";
}
