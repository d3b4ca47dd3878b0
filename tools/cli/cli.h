/*
 * tinyfleet CLI: what the command files share.
 *
 * The tool is one process per command: it parses its arguments, connects once (if the
 * command talks to a gateway), sends its requests one at a time and exits with one of the
 * CLI_EXIT_* codes below. Nothing here is thread-safe; Paho's synchronous client does its
 * network work inside our calls (MQTTClient_receive), so the program has one thread.
 */
#ifndef TF_CLI_H
#define TF_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Exit codes, documented in `tinyfleet help` and docs/cli.md. Stable for scripts. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_USAGE 1   /* bad command line */
#define CLI_EXIT_REFUSED 2 /* the gateway answered with an error, or a local check said no */
#define CLI_EXIT_CONN 3    /* cannot connect: broker down, TLS, certificate, CA */
#define CLI_EXIT_TIMEOUT 4 /* connected, but no answer in time (gateway down, ACL drop) */
#define CLI_EXIT_IO 5      /* a local file could not be read or written */

/* Connection settings: flags, then TINYFLEET_* environment, then the config file. */
struct cli_opts {
	const char *uri;  /* ssl://host:port */
	const char *site; /* tf/<site>/... */
	const char *ca;   /* fleet CA certificate */
	const char *cert; /* operator certificate; its CN is the operator identity */
	const char *key;  /* operator private key */
	int timeout_s;    /* per request */
	int json;         /* --json: machine output on stdout */
};

/* ---- opts.c: command line and settings ---- */

/* Removes the connection flags (--uri --site --ca --cert --key --timeout --json --config)
 * from argv wherever they are, filling o from them, the environment and the config file.
 * Returns 0 or CLI_EXIT_USAGE (message printed). */
int cli_opts_take(struct cli_opts *o, int *argc, char **argv);
/* Checks that uri, site, ca, cert and key are all known; prints what is missing. */
int cli_opts_complete(const struct cli_opts *o);
/* Whole number option value or exit(CLI_EXIT_USAGE) with a message naming opt. */
uint64_t cli_number(const char *opt, const char *v);
/* Reads a whole file, NUL-terminated; exit(CLI_EXIT_IO) with a message on failure. */
uint8_t *cli_slurp(const char *path, size_t *len);
/* Writes a file with the given mode; exit(CLI_EXIT_IO) on failure. */
void cli_spill(const char *path, const void *p, size_t n, unsigned mode);
/* Prints "usage: ..." for a command (or all) and exits with CLI_EXIT_USAGE. */
_Noreturn void cli_usage(const char *command);

/* ---- output.c: tables, JSON and errors ---- */

#define CLI_TABLE_COLS 10

struct cli_table {
	int ncols, nrows, cap;
	const char *head[CLI_TABLE_COLS];
	char **cells; /* nrows * ncols, owned */
};

void cli_table_init(struct cli_table *t, int ncols, ...);
/* Adds a row of ncols strings (copied). */
void cli_table_row(struct cli_table *t, ...);
/* A number as text with that many decimals, in one of 32 rotating static buffers (so a
 * table row may hold several). */
const char *cli_f(double v, int decimals);
/* A whole-number member as text (cli_f of cli_num, 0 when missing). */
const char *cli_int(const json_t *o, const char *path);
/* s, or dflt when s is empty. */
const char *cli_or(const char *s, const char *dflt);
void cli_table_print(struct cli_table *t); /* prints and frees */

/* Prints a JSON value on stdout, indented, with a newline. */
void cli_print_json(const json_t *v);
/* Member lookups that tolerate a missing member or a wrong type: "" / -1 / 0. */
const char *cli_str(const json_t *o, const char *path); /* path "a.b.c" */
double cli_num(const json_t *o, const char *path, double dflt);
int cli_bool(const json_t *o, const char *path);
/* A short human size: 1234 -> "1.2 KiB". Returns buf. */
const char *cli_bytes(double n, char *buf, size_t len);
/* What an operator should do about a gateway error code (never NULL). */
const char *cli_error_hint(const char *code);
/* stderr message with the program name: cli_err("cannot ...: %s", x). */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- mqtt.c: request/response over MQTT v5 ---- */

struct cli_mqtt {
	void *client; /* MQTTClient */
	const struct cli_opts *o;
	char cn[65];    /* operator CN, from the certificate */
	char nonce[20]; /* per process; response topics are .../resp/<cn>/<nonce>/<n> */
	unsigned next;
	int subscribed; /* to .../resp/<cn>/<nonce>/+ */
};

/* Connects with mutual TLS. 0, or CLI_EXIT_CONN with a message saying what to check. */
int cli_mqtt_connect(struct cli_mqtt *m, const struct cli_opts *o);
/* Sends one request (body borrowed) and waits for its answer. On 0, *result is the
 * response's result (new reference). A refusal prints the gateway's code, message and
 * what to do (with --json, the whole response on stdout) and returns CLI_EXIT_REFUSED;
 * else CLI_EXIT_TIMEOUT or CLI_EXIT_CONN. */
int cli_request(struct cli_mqtt *m, const char *op, json_t *body, json_t **result);
/* Like cli_request, but the refusal is returned silently as *error (the error object). */
int cli_request_raw(struct cli_mqtt *m, const char *op, json_t *body, json_t **result,
                    json_t **error);
/* A list operation, page after page: appends each page's "items" to `all` and follows
 * "next_cursor" (set in `req`) until the last page or until `all` holds `max` items; with
 * `max` below SIZE_MAX each page asks for "limit" min(max, 500). *last is the last page
 * (new reference, for its "total"). 0, or cli_request's code. */
int cli_request_pages(struct cli_mqtt *m, const char *op, json_t *req, size_t max, json_t *all,
                      json_t **last);
int cli_mqtt_subscribe(struct cli_mqtt *m, const char *filter);
/* Next message within timeout_ms: 1 and *topic (malloc'd) and *payload (raw text, malloc'd,
 * NUL-terminated), 0 on timeout, CLI_EXIT_CONN when the link broke. */
int cli_mqtt_next(struct cli_mqtt *m, int timeout_ms, char **topic, char **payload,
                  int *retained);
void cli_mqtt_close(struct cli_mqtt *m);

/* ---- commands (one file per idea) ---- */

int cmd_keygen(int argc, char **argv);      /* release.c */
int cmd_model_sign(int argc, char **argv);  /* release.c */
int cmd_model_verify(int argc, char **argv);
int cmd_model_pack(int argc, char **argv);

/* What a release promises, from `model sign` / `model publish` options. */
struct cli_sign_params {
	const char *key; /* release private key (PEM) */
	uint64_t seq;
	int have_seq;
	const char *device_class;
	uint64_t min_ram; /* 0: the container's arena size */
	const char *sensors;
	uint32_t abi;
	uint64_t expires;
	int has_expiry;
};
/* Takes one "--opt value" pair of the signing options: 1 taken, 0 not a signing option. */
int cli_sign_option(struct cli_sign_params *p, const char *opt, const char *val);
/* Signs a container into out (cap bytes, TFP_MANIFEST_PAYLOAD_MAX + overhead is enough);
 * prints the manifest unless quiet. 0 or a CLI_EXIT_* code (message printed). */
int cli_sign(const struct cli_sign_params *p, const uint8_t *img, size_t imglen, uint8_t *out,
             size_t cap, size_t *outlen, int quiet);

int cmd_model_publish(const struct cli_opts *o, int argc, char **argv); /* models.c */
int cmd_models(const struct cli_opts *o, int argc, char **argv);
int cmd_devices(const struct cli_opts *o, int argc, char **argv);       /* fleet.c */
int cmd_status(const struct cli_opts *o, int argc, char **argv);
int cmd_rollout(const struct cli_opts *o, int argc, char **argv);       /* rollout.c */
int cmd_watch(const struct cli_opts *o, int argc, char **argv);         /* watch.c */

/* watch.c: one line that shows a rollout-status document's progress. */
void cli_rollout_progress_line(const json_t *status, char *buf, size_t len);

void cli_help(const char *topic); /* help.c */

#endif
