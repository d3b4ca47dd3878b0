#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum gw_log_level max_level = GW_LOG_INFO;
static int journal = -1;   /* unknown until the first line */

void
gw_log_init(enum gw_log_level level)
{
	max_level = level;
	journal = getenv("JOURNAL_STREAM") != NULL;
}

void
gw_log_set_level(enum gw_log_level level)
{
	max_level = level;
}

int
gw_log_level_parse(const char *name, enum gw_log_level *out)
{
	static const struct { const char *name; enum gw_log_level level; } names[] = {
		{ "error", GW_LOG_ERR }, { "warning", GW_LOG_WARNING },
		{ "notice", GW_LOG_NOTICE }, { "info", GW_LOG_INFO }, { "debug", GW_LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

static void vlog(enum gw_log_level level, const char *errstr, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
vlog(enum gw_log_level level, const char *errstr, const char *fmt, va_list ap)
{
	char line[1024];

	if (level > max_level)
		return;
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (journal)
		fprintf(stderr, "<%d>", (int)level);
	if (errstr != NULL)
		fprintf(stderr, "%s: %s\n", line, errstr);
	else
		fprintf(stderr, "%s\n", line);
}

void
log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;
	va_start(ap, fmt);
	vlog(GW_LOG_WARNING, e, fmt, ap);
	va_end(ap);
}

#define GW_LOG_FN(fn, level)                      \
	void fn(const char *fmt, ...)             \
	{                                         \
		va_list ap;                       \
		va_start(ap, fmt);                \
		vlog(level, NULL, fmt, ap);       \
		va_end(ap);                       \
	}

GW_LOG_FN(log_warnx, GW_LOG_WARNING)
GW_LOG_FN(log_notice, GW_LOG_NOTICE)
GW_LOG_FN(log_info, GW_LOG_INFO)
GW_LOG_FN(log_debug, GW_LOG_DEBUG)

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(GW_LOG_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
