/*
 * Test harness: a real Mosquitto on 127.0.0.1 with the project's PKI and ACL
 * (deploy/pki.sh, deploy/mosquitto/gen-config.sh), started and stopped by the test, by PID.
 * Also runs Mosquitto's own clients (mosquitto_pub / mosquitto_sub) as independent peers.
 */
#ifndef TF_TEST_BROKER_H
#define TF_TEST_BROKER_H

#include <sys/types.h>

struct test_broker {
	char dir[64];          /* scratch directory: pki/, mosq/ */
	char pki[96];
	char uri[64];          /* ssl://127.0.0.1:<port> */
	int port;
	pid_t pid;
};

/* Creates the PKI (with `devices` device certificates) and starts the broker; 0 or -1. */
int test_broker_start(struct test_broker *b, int devices);
/* Starts the broker again on the same port and files (after test_broker_stop). */
int test_broker_restart(struct test_broker *b);
/* SIGTERM, wait; safe when not running. */
void test_broker_stop(struct test_broker *b);
/* Stops the broker and removes the scratch directory. */
void test_broker_destroy(struct test_broker *b);

/* Runs mosquitto_pub as identity `who` (a file stem under pki/, e.g. "devices/dev-0001" or
 * "op-alice") with extra arguments (NULL-terminated); returns its exit status. */
int test_broker_pub(const struct test_broker *b, const char *who, ...);
/* Path of a PKI file, e.g. test_broker_path(b, "gateway.crt"). Static buffer (one of four
 * rotating), valid until the fourth next call. */
const char *test_broker_path(const struct test_broker *b, const char *name);

#endif
