/*
 * tinyfleetd logging: one small API in the OpenBSD daemons' style.
 *
 *   log_warn()  appends ": <strerror(errno)>";  log_warnx() does not;
 *   fatalx()    logs and exits (broken invariants only, never bad input).
 *
 * Lines go to stderr. Under systemd (JOURNAL_STREAM set) each line carries a "<N>" syslog
 * priority prefix so the journal files it at the right level. Messages name the function
 * or the object they are about. Loop thread only (the log level is plain global state);
 * library threads hand their news to the loop instead of logging.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdarg.h>

enum gw_log_level {
	GW_LOG_ERR = 3,
	GW_LOG_WARNING = 4,
	GW_LOG_NOTICE = 5,
	GW_LOG_INFO = 6,
	GW_LOG_DEBUG = 7,
};

void gw_log_init(enum gw_log_level level);
void gw_log_set_level(enum gw_log_level level);
/* Parses "error", "warning", "notice", "info" or "debug"; -EINVAL otherwise. */
int gw_log_level_parse(const char *name, enum gw_log_level *out);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
