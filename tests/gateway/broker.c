#include "broker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int
run(char *const argv[], pid_t *pid_out)
{
	pid_t pid;
	int status;
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
		fprintf(stderr, "broker: cannot run %s\n", argv[0]);
		return -1;
	}
	if (pid_out != NULL) {
		*pid_out = pid;
		return 0;
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int
wait_listening(int port, int ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int waited = 0; waited < ms; waited += 20) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		struct timespec ts = { 0, 20 * 1000000L };
		if (fd >= 0)
			close(fd);
		if (ok)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

const char *
test_broker_path(const struct test_broker *b, const char *name)
{
	static char bufs[4][160];
	static int next;
	char *p = bufs[next++ % 4];
	snprintf(p, sizeof(bufs[0]), "%s/%s", b->pki, name);
	return p;
}

static int
spawn_broker(struct test_broker *b)
{
	char conf[128];
	char *argv[] = { "mosquitto", "-c", conf, NULL };
	snprintf(conf, sizeof(conf), "%s/mosq/mosquitto.conf", b->dir);
	if (run(argv, &b->pid) != 0)
		return -1;
	if (wait_listening(b->port, 5000) != 0) {
		test_broker_stop(b);
		return -1;
	}
	return 0;
}

int
test_broker_start(struct test_broker *b, int devices)
{
	char ndev[16], port[16], mosq[96];
	memset(b, 0, sizeof(*b));
	snprintf(b->dir, sizeof(b->dir), "/tmp/tf-broker-XXXXXX");
	if (mkdtemp(b->dir) == NULL)
		return -1;
	snprintf(b->pki, sizeof(b->pki), "%s/pki", b->dir);
	snprintf(mosq, sizeof(mosq), "%s/mosq", b->dir);
	snprintf(ndev, sizeof(ndev), "%d", devices);
	b->port = free_port();
	snprintf(port, sizeof(port), "%d", b->port);
	snprintf(b->uri, sizeof(b->uri), "ssl://127.0.0.1:%d", b->port);

	char *pki[] = { "bash", TF_SOURCE_DIR "/deploy/pki.sh", b->pki, "--devices", ndev,
	                "--operators", "alice", NULL };
	char *gen[] = { "bash", TF_SOURCE_DIR "/deploy/mosquitto/gen-config.sh", mosq, b->pki,
	                "--port", port, "--user", "root", NULL };
	if (b->port <= 0 || run(pki, NULL) != 0 || run(gen, NULL) != 0)
		return -1;
	return spawn_broker(b);
}

int
test_broker_restart(struct test_broker *b)
{
	return spawn_broker(b);
}

void
test_broker_stop(struct test_broker *b)
{
	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
	}
}

void
test_broker_destroy(struct test_broker *b)
{
	char *rm[] = { "rm", "-rf", b->dir, NULL };
	test_broker_stop(b);
	if (b->dir[0] != '\0')
		run(rm, NULL);
}

int
test_broker_pub(const struct test_broker *b, const char *who, ...)
{
	char *argv[48];
	char port[16], cert[160], key[160];
	int n = 0;
	va_list ap;
	const char *a;

	snprintf(port, sizeof(port), "%d", b->port);
	snprintf(cert, sizeof(cert), "%s/%s.crt", b->pki, who);
	snprintf(key, sizeof(key), "%s/%s.key", b->pki, who);
	argv[n++] = "mosquitto_pub";
	argv[n++] = "-h";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "--cafile";
	argv[n++] = (char *)test_broker_path(b, "ca.crt");
	argv[n++] = "--cert";
	argv[n++] = cert;
	argv[n++] = "--key";
	argv[n++] = key;
	va_start(ap, who);
	while ((a = va_arg(ap, const char *)) != NULL && n < 46)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	return run(argv, NULL);
}
