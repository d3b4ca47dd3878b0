/*
 * Settings and small helpers: connection flags, TINYFLEET_* environment, the config file,
 * numbers and whole files.
 *
 * Precedence: a flag beats the environment, which beats the config file
 * ($TINYFLEET_CONFIG, else ~/.config/tinyfleet/cli.conf: "key = value" lines, '#'
 * comments, keys uri, site, ca, cert, key, timeout).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define FILE_MAX (16u << 20)

static const struct {
	const char *flag, *env, *key;
	size_t off;
} settings[] = {
	{ "--uri", "TINYFLEET_URI", "uri", offsetof(struct cli_opts, uri) },
	{ "--site", "TINYFLEET_SITE", "site", offsetof(struct cli_opts, site) },
	{ "--ca", "TINYFLEET_CA", "ca", offsetof(struct cli_opts, ca) },
	{ "--cert", "TINYFLEET_CERT", "cert", offsetof(struct cli_opts, cert) },
	{ "--key", "TINYFLEET_KEY", "key", offsetof(struct cli_opts, key) },
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const char **
slot(struct cli_opts *o, size_t i)
{
	return (const char **)((char *)o + settings[i].off);
}

static char *
trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Fills what is still unset from the config file. */
static int
read_config(struct cli_opts *o, const char *path, int explicit, int *timeout_set)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;

	if (f == NULL) {
		if (!explicit)
			return 0;
		cli_err("config %s: %s", path, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *k = trim(line), *eq, *v;
		size_t i;
		n++;
		if (*k == '\0' || *k == '#')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			cli_err("%s:%d: expected key = value", path, n);
			fclose(f);
			return CLI_EXIT_USAGE;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		if (strcmp(k, "timeout") == 0) {
			if (!*timeout_set)
				o->timeout_s = (int)cli_number("timeout", v);
			continue;
		}
		for (i = 0; i < NSETTINGS && strcmp(k, settings[i].key) != 0; i++)
			;
		if (i == NSETTINGS) {
			cli_err("%s:%d: unknown key '%s' (uri, site, ca, cert, key, timeout)", path, n, k);
			fclose(f);
			return CLI_EXIT_USAGE;
		}
		if (*slot(o, i) == NULL) {
			/* One value per setting, kept for the life of the process. */
			static char values[NSETTINGS][1024];
			if (strlen(v) >= sizeof(values[i])) {
				cli_err("%s:%d: %s is too long", path, n, k);
				fclose(f);
				return CLI_EXIT_USAGE;
			}
			memcpy(values[i], v, strlen(v) + 1);
			*slot(o, i) = values[i];
		}
	}
	fclose(f);
	return 0;
}

int
cli_opts_take(struct cli_opts *o, int *argc, char **argv)
{
	const char *config = getenv("TINYFLEET_CONFIG");
	char home_conf[4096];
	int i, out = 1, timeout_set = 0, explicit = config != NULL;

	memset(o, 0, sizeof(*o));
	o->timeout_s = 10;
	for (i = 1; i < *argc; i++) {
		const char *a = argv[i];
		size_t k;
		if (strcmp(a, "--json") == 0) {
			o->json = 1;
			continue;
		}
		if (strcmp(a, "--") == 0) { /* the rest belongs to the command */
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		for (k = 0; k < NSETTINGS && strcmp(a, settings[k].flag) != 0; k++)
			;
		if (k < NSETTINGS || strcmp(a, "--timeout") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= *argc) {
				cli_err("%s needs a value", a);
				return CLI_EXIT_USAGE;
			}
			if (k < NSETTINGS)
				*slot(o, k) = argv[i + 1];
			else if (strcmp(a, "--config") == 0)
				config = argv[i + 1], explicit = 1;
			else
				o->timeout_s = (int)cli_number(a, argv[i + 1]), timeout_set = 1;
			i++;
			continue;
		}
		argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
	for (size_t k = 0; k < NSETTINGS; k++)
		if (*slot(o, k) == NULL && getenv(settings[k].env) != NULL)
			*slot(o, k) = getenv(settings[k].env);
	if (!timeout_set && getenv("TINYFLEET_TIMEOUT") != NULL)
		o->timeout_s = (int)cli_number("TINYFLEET_TIMEOUT", getenv("TINYFLEET_TIMEOUT")),
		timeout_set = 1;
	if (config == NULL && getenv("HOME") != NULL) {
		snprintf(home_conf, sizeof(home_conf), "%s/.config/tinyfleet/cli.conf",
		         getenv("HOME"));
		config = home_conf;
	}
	if (config != NULL && read_config(o, config, explicit, &timeout_set) != 0)
		return CLI_EXIT_USAGE;
	if (o->timeout_s <= 0 || o->timeout_s > 3600) {
		cli_err("--timeout is seconds, 1 to 3600");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

int
cli_opts_complete(const struct cli_opts *o)
{
	int missing = 0;
	for (size_t k = 0; k < NSETTINGS; k++) {
		if (*slot((struct cli_opts *)o, k) != NULL)
			continue;
		cli_err("no %s given: pass %s, set %s, or put '%s = ...' in the config file "
		        "(see tinyfleet help connect)",
		        settings[k].key, settings[k].flag, settings[k].env, settings[k].key);
		missing = 1;
	}
	return missing ? CLI_EXIT_USAGE : 0;
}

uint64_t
cli_number(const char *opt, const char *v)
{
	char *end;
	unsigned long long n;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || *v == '-') {
		cli_err("%s takes a whole number, not '%s'", opt, v);
		exit(CLI_EXIT_USAGE);
	}
	return n;
}

uint8_t *
cli_slurp(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL) {
		cli_err("%s: %s", path, strerror(errno));
		exit(CLI_EXIT_IO);
	}
	for (;;) {
		if (cap - n < 4096) {
			if (cap >= FILE_MAX) {
				cli_err("%s: larger than %u bytes", path, FILE_MAX);
				exit(CLI_EXIT_IO);
			}
			cap = cap ? cap * 2 : 65536;
			if ((buf = realloc(buf, cap + 1)) == NULL) {
				cli_err("out of memory");
				exit(CLI_EXIT_IO);
			}
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

void
cli_spill(const char *path, const void *p, size_t n, unsigned mode)
{
	FILE *f;
	mode_t old = umask(077 & ~(mode_t)mode);
	f = fopen(path, "wb");
	umask(old);
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		cli_err("cannot write %s: %s", path, strerror(errno));
		exit(CLI_EXIT_IO);
	}
	chmod(path, (mode_t)mode);
}
