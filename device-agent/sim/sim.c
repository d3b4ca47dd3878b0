/*
 * tinyfleet-sim: N simulated devices in one process and one thread, event-driven (one
 * epoll set over every device's socket, ioset.h; no thread per device), each with its own
 * flash image (memory), identity (certificate from deploy/pki.sh) and OTA core.
 *
 *   tinyfleet-sim --pki DIR --devices N --model FILE [options]    (--help lists them)
 *
 * --transport coap: the devices talk CoAP over DTLS to the gateway at --host:--coap-port
 * (default 5684) instead of MQTT to the broker (mixed fleets: run one sim per transport).
 * Flaky-link injection (--drop-rate, --delay-ms, --qos0-loss) acts on MQTT links only; a
 * power cut restarts a CoAP device's OTA core but keeps its DTLS session.
 * Prints when every device is connected (connect time) and the process's resident memory
 * per device. With --duration 0 it exits as soon as all are connected (benchmarks); else it
 * runs that long (0 < d), answering commands, then says goodbye on every link. SIGINT or
 * SIGTERM end it early the same way. Without all devices connected after --timeout seconds
 * (default 300; 0 = never) it gives up (exit 1).
 *
 * Connections: devices start at --ramp per second, each at a random point of its slot
 * (jitter, so that starts do not line up with the loop's ticks); a link that fails retries
 * with a jittered exponential backoff (tinyfleet/port/mqtt.h). The process raises its limit
 * on open files to the 3 per device libmosquitto needs (past the hard limit when it may)
 * and, unless --tls-per-device, shares one TLS context among all clients (each still
 * presents its own certificate).
 *
 * Data streams (with --sample-ms > 0): every device draws a sample every MS milliseconds
 * from its own generator (inputs uniform in [-1, 1], class = the strongest of the first
 * `classes` inputs), labelled with probability R (--label-rate, default 0.25), and runs it
 * through its model with TinyOL, publishing telemetry every N samples (--every, default 50;
 * config commands from the gateway may change the cadence).
 * Drift injection: --drift-share percent of the devices (the first ones) see concept drift:
 * the class becomes the next one (labels rotate by one). --drift-at S starts it S seconds
 * after the sim started. --drift-version V applies it only while a device runs model
 * version V, from S seconds (--drift-at, default 10 here) after the device started running
 * V: a model that is bad for the data these devices see, injected after the install (the
 * device's drift detectors, which start afresh with each model, first see clean data on V
 * and then the change), and gone when the device rolls back. With --drift-version the
 * share defaults to 100 %.
 * Every learner runs the agent's drift detectors (sim/device.h) configured from the
 * device's settings, and its telemetry carries their scores and alarms ("why" bits); a new
 * alarm is published at once. The summary counts each device's telemetry records that
 * carried an alarm ("drift_alarm_reports"). Memory: --sample-ms adds one struct
 * sim_learner per device (8,264 B on x86-64, of which 3,040 B are the drift detectors).
 *
 * Flaky links, on --flaky-share percent of the devices (default 100; chosen by a hash of
 * the device id, so the same ones in every run):
 *   --drop-rate R      the link is cut R times per minute on average (Poisson), as a
 *                      network failure (no DISCONNECT: the broker publishes the will);
 *                      the device reconnects after its jittered backoff
 *   --delay-ms MS      every outgoing message is held MS milliseconds before it is sent
 *                      (QoS 1 messages wait for the link if it is down meanwhile)
 *   --qos0-loss PCT    this percentage of outgoing QoS 0 messages (telemetry) is lost
 * Power cuts, on --power-cut-share percent of the devices (default 100; by id hash):
 *   --power-cut-at K   power fails at the K-th flash operation (write, erase, counter
 *                      raise) after the device started, once
 *   --power-cut-rate P each flash operation fails with probability P (0..1), again after
 *                      every restart, at most --power-cut-max times per device (default 5)
 * A cut device restarts at once (port/posix instrumentation, sim/device.h): its OTA core
 * boots from the flash it left behind and it reconnects; it must come up on a valid
 * confirmed model (else it is reported as bricked) and finish the update when offered again.
 * --seed S seeds the fault injection (default 1).
 *
 * --summary FILE: at exit, a JSON object {"devices": [...], "totals": {...}} with one
 * object per started device: "id", "model" {"name", "version", "digest" (hex SHA-256),
 * "sequence", "slot"} of the running model, "updates_completed" (confirmed updates),
 * "reverts", "rollbacks", "duplicates" (commands answered as already done), "configs"
 * (config commands applied), "power_cuts", "boots", "bricked", "reconnects" (connections
 * after the first), "disconnects" (links lost and attempts failed), "connect_timeouts"
 * (attempts abandoned without CONNACK), "link_drops"
 * (injected), "qos0_lost", "connected" (at exit), "drift_alarm_reports" (with
 * --sample-ms); totals
 * sum the counters. Counters span the whole run, across restarts.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <jansson.h>

#include "device.h"
#include "ioset.h"
#include "verify_share.h"
#include "tinyfleet/protocol/cose_sign1.h"

/* Fault injection settings (see above). */
static struct {
	long flaky_share, cut_share, cut_at, cut_max;
	double drop_rate, cut_rate;
	long delay_ms, qos0_loss;
	uint64_t rng;
} F = { 100, 100, 0, 5, 0.0, 0.0, 0, 0, 1 };

static volatile sig_atomic_t stop;

/* One scratch arena for every device: one thread runs them one at a time, and the arena
 * holds nothing between calls (self-test, inference). */
static uint8_t arena[SIM_ARENA] __attribute__((aligned(16)));

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* Uniform in [0, 1) from the fault RNG (xorshift64*; reproducible with --seed). */
static double
urand(void)
{
	F.rng ^= F.rng >> 12;
	F.rng ^= F.rng << 25;
	F.rng ^= F.rng >> 27;
	return (double)((F.rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* Is the device in the share (percent)? A hash of its id, so runs pick the same ones. */
static int
chosen(const char *id, long share, uint32_t salt)
{
	uint32_t h = 2166136261u ^ salt;

	for (; *id != '\0'; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return (long)(h % 100u) < share;
}

/* Flash operations until the next cut at a per-operation probability p (geometric). */
static uint64_t
ops_until_cut(double p)
{
	double u = urand();

	if (p >= 1.0)
		return 1;
	return 1 + (uint64_t)floor(log(1.0 - u) / log(1.0 - p));
}

/* After every restart: arm the next random cut while the device has cuts left. */
static void
rearm_cut(struct sim_device *d)
{
	if (F.cut_rate > 0.0 && (long)d->power_cuts < F.cut_max &&
	    chosen(d->id, F.cut_share, 0x5eed))
		sim_device_power_cut(d, ops_until_cut(F.cut_rate));
}

/* Milliseconds until the next link cut (exponential, mean 60 s / rate). */
static uint64_t
next_drop_in(void)
{
	return (uint64_t)(-log(1.0 - urand()) * 60000.0 / F.drop_rate) + 1;
}

/* libmosquitto keeps three descriptors per client (its socket and a wake-up socket pair):
 * raise the soft limit to what n clients need, past the hard limit when privileged. */
static void
raise_fd_limit(long n)
{
	struct rlimit r;
	rlim_t want = (rlim_t)n * 3u + 256u;

	if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= want)
		return;
	if (r.rlim_max < want) {
		struct rlimit big = { want, want };
		if (setrlimit(RLIMIT_NOFILE, &big) == 0)
			return;
	}
	r.rlim_cur = r.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &r);
	if (r.rlim_cur < want)
		fprintf(stderr, "tinyfleet-sim: open files limited to %lu, %ld devices need %lu\n",
		        (unsigned long)r.rlim_cur, n, (unsigned long)want);
}

static int
write_summary(const char *path, struct sim_device **devs, const struct sim_learner *learners,
              long n)
{
	json_t *root = json_object(), *arr = json_array(), *tot = json_object();
	uint64_t t_upd = 0, t_rev = 0, t_rb = 0, t_dup = 0, t_cfg = 0, t_cut = 0, t_rec = 0,
	         t_drop = 0, t_brick = 0, t_conn = 0, t_alarm = 0;
	int rc = -1;

	if (root == NULL || arr == NULL || tot == NULL)
		goto out;
	for (long i = 0; i < n; i++) {
		const struct sim_device *d = devs[i];
		const struct tfa_ota_slot *s;
		struct tfa_ota_stats st;
		char hex[2 * TFP_DIGEST_LEN + 1];
		uint32_t rec;
		json_t *o;

		if (d == NULL)
			continue;
		s = &d->ota.meta.slot[d->ota.meta.active];
		sim_device_stats(d, &st);
		for (unsigned k = 0; k < TFP_DIGEST_LEN; k++)
			snprintf(hex + 2 * k, 3, "%02x", s->digest[k]);
		rec = d->mq.connects > 0 ? d->mq.connects - 1 : 0;
		o = json_pack("{s:s, s:{s:s, s:s, s:s, s:I, s:i}, s:I, s:I, s:I, s:I, s:I, s:I, "
		              "s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:b}",
		              "id", d->id, "model", "name", d->bricked ? "" : s->name, "version",
		              d->bricked ? "" : s->version, "digest", d->bricked ? "" : hex,
		              "sequence", (json_int_t)(d->bricked ? 0 : s->sequence), "slot",
		              (int)d->ota.meta.active, "updates_completed", (json_int_t)st.confirms,
		              "reverts", (json_int_t)st.reverts, "rollbacks",
		              (json_int_t)st.rollbacks, "duplicates", (json_int_t)st.duplicates,
		              "configs", (json_int_t)st.configs, "power_cuts",
		              (json_int_t)d->power_cuts, "boots", (json_int_t)d->boots, "bricked",
		              (int)d->bricked, "reconnects", (json_int_t)rec, "disconnects",
		              (json_int_t)d->mq.disconnects, "connect_timeouts",
		              (json_int_t)d->mq.timeouts, "link_drops",
		              (json_int_t)d->mq.drops, "qos0_lost", (json_int_t)d->mq.qos0_lost,
		              "connected", (int)(d->mq.up != 0));
		if (o == NULL || json_array_append_new(arr, o) != 0)
			goto out;
		if (learners != NULL) {
			json_object_set_new(o, "drift_alarm_reports",
			                    json_integer((json_int_t)learners[i].alarm_reports));
			t_alarm += learners[i].alarm_reports;
		}
		t_upd += st.confirms;
		t_rev += st.reverts;
		t_rb += st.rollbacks;
		t_dup += st.duplicates;
		t_cfg += st.configs;
		t_cut += d->power_cuts;
		t_rec += rec;
		t_drop += d->mq.drops;
		t_brick += d->bricked;
		t_conn += d->mq.up != 0;
	}
	json_object_set_new(tot, "devices", json_integer((json_int_t)json_array_size(arr)));
	json_object_set_new(tot, "updates_completed", json_integer((json_int_t)t_upd));
	json_object_set_new(tot, "reverts", json_integer((json_int_t)t_rev));
	json_object_set_new(tot, "rollbacks", json_integer((json_int_t)t_rb));
	json_object_set_new(tot, "duplicates", json_integer((json_int_t)t_dup));
	json_object_set_new(tot, "configs", json_integer((json_int_t)t_cfg));
	json_object_set_new(tot, "power_cuts", json_integer((json_int_t)t_cut));
	json_object_set_new(tot, "reconnects", json_integer((json_int_t)t_rec));
	json_object_set_new(tot, "link_drops", json_integer((json_int_t)t_drop));
	json_object_set_new(tot, "bricked", json_integer((json_int_t)t_brick));
	json_object_set_new(tot, "connected", json_integer((json_int_t)t_conn));
	if (learners != NULL)
		json_object_set_new(tot, "drift_alarm_reports", json_integer((json_int_t)t_alarm));
	json_object_set_new(root, "devices", arr);
	arr = NULL;
	json_object_set_new(root, "totals", tot);
	tot = NULL;
	rc = json_dump_file(root, path, JSON_INDENT(1)) == 0 ? 0 : -1;
out:
	json_decref(arr);
	json_decref(tot);
	json_decref(root);
	if (rc != 0)
		fprintf(stderr, "tinyfleet-sim: cannot write the summary %s\n", path);
	return rc;
}

/* Does the device see drifted data at t? In the share and either past --drift-at since the
 * start, or running --drift-version for --drift-at seconds (l->t0: when the learner started
 * on the running model). */
static int
drifting(const struct sim_device *d, const struct sim_learner *l, int in_share,
         long drift_at, const char *version, uint64_t t, uint64_t t_start)
{
	if (!in_share)
		return 0;
	if (version == NULL)
		return drift_at >= 0 && t - t_start >= (uint64_t)drift_at * 1000u;
	return l->ready > 0 &&
	       strcmp(d->ota.meta.slot[d->ota.meta.active].version, version) == 0 &&
	       memcmp(l->digest, d->ota.meta.slot[d->ota.meta.active].digest,
	              TFP_DIGEST_LEN) == 0 &&
	       t - l->t0 >= (uint64_t)(drift_at >= 0 ? drift_at : 10) * 1000u;
}

/* Samples due since the last call (at most 20 per call), from the device's generator. */
static void
stream(struct sim_device *d, struct sim_learner *l, uint32_t *seed, uint64_t *next_at,
       uint64_t t, uint64_t period, double label_rate, int drifted)
{
	float x[256];
	unsigned nin = sim_model_inputs(d), classes = sim_model_outputs(d);

	if (*next_at == 0)
		*next_at = t;
	if (nin > 256 || classes == 0)
		return;
	for (int k = 0; k < 20 && *next_at <= t; k++, *next_at += period) {
		unsigned best = 0;
		int label = -1;
		for (unsigned i = 0; i < nin; i++) {
			*seed = *seed * 1664525u + 1013904223u;
			x[i] = (float)((*seed >> 8) % 2000) / 1000.0f - 1.0f;
		}
		for (unsigned i = 1; i < classes && i < nin; i++)
			if (x[i] > x[best])
				best = i;
		*seed = *seed * 1664525u + 1013904223u;
		if ((double)(*seed >> 8) / 16777216.0 < label_rate)
			label = (int)((best + (drifted ? 1u : 0u)) % classes);
		(void)sim_learner_step(l, d, x, label, t);
	}
	if (*next_at + 1000u * period < t)
		*next_at = t;   /* far behind (a slow loop): skip rather than catch up */
}

/* The device's socket and interest, as the ioset should know them. */
static void
watch(struct sim_ioset *io, struct sim_device **devs, size_t i, int force)
{
	sim_ioset_sync(io, i, sim_device_fd(devs[i]), sim_device_events(devs[i]), force);
}

struct ready_ctx {
	struct sim_ioset *io;
	struct sim_device **devs;
};

static void
on_ready(void *arg, size_t i, short revents)
{
	struct ready_ctx *c = arg;

	sim_device_io(c->devs[i], revents, tfa_posix_mono_ms());
	watch(c->io, c->devs, i, 0);
}

static const char usage_text[] =
	"usage: tinyfleet-sim --pki DIR --devices N --model FILE [options]\n"
	"  --host H --port P --site S  broker (127.0.0.1:8883) and site (site1)\n"
	"  --prefix P --first K --id-width W   device ids P<K..K+N-1, zero-padded to W (dev-, 1, 4)\n"
	"  --release-pub PEM           pinned release key (else updates are refused)\n"
	"  --class C                   device class (sim-m4)\n"
	"  --ramp PER_S                device starts per second, jittered (1000)\n"
	"  --duration S                run S seconds once all are connected; 0: exit then (0)\n"
	"  --timeout S                 give up when not all are connected after S s (300; 0: never)\n"
	"  --tls-per-device            one TLS context per client instead of one shared\n"
	"  --slot-kb K                 flash slot size per model, KiB (16; the image must fit)\n"
	"  --shared-verify             devices of this process share each manifest's signature\n"
	"                              check (one real check per distinct manifest): for\n"
	"                              benchmarks of the gateway on a host with few cores\n"
	"  --transport mqtt|coap       MQTT to the broker, or CoAP/DTLS to the gateway (mqtt)\n"
	"  --coap-port P               the gateway's CoAP/DTLS port (5684)\n"
	"  --sample-ms MS --label-rate R --every N   data stream, labels, telemetry cadence\n"
	"  --drift-share PCT           concept drift (labels rotate) on the first PCT % devices\n"
	"  --drift-at S                ... from S seconds after start on\n"
	"  --drift-version V           ... only while the device runs model version V, from\n"
	"                              --drift-at S seconds (default 10) after it started\n"
	"                              running V (then the share defaults to 100)\n"
	"  --flaky-share PCT           devices with flaky links (100)\n"
	"  --drop-rate R               link cuts per minute per flaky device (Poisson)\n"
	"  --delay-ms MS               hold every outgoing message MS ms\n"
	"  --qos0-loss PCT             lose PCT % of outgoing QoS 0 messages\n"
	"  --power-cut-share PCT       devices that get power cuts (100)\n"
	"  --power-cut-at K            cut power at the K-th flash operation after start, once\n"
	"  --power-cut-rate P          cut power at each flash operation with probability P\n"
	"  --power-cut-max M           random cuts per device at most (5)\n"
	"  --seed S                    fault injection seed (1)\n"
	"  --summary FILE              JSON summary per device at exit\n";

static void
usage(void)
{
	fputs(usage_text, stderr);
	exit(2);
}

static double
fnum(const char *s, double max)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || !(v >= 0.0 && v <= max))
		usage();
	return v;
}

static long
num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	const char *pki = NULL, *host = "127.0.0.1", *site = "site1", *prefix = "dev-";
	const char *model_path = NULL, *pub_path = NULL, *cls = "sim-m4", *transport = NULL;
	long coap_port = 5684;
	long n = 0, port = 8883, first = 1, width = 4, ramp = 1000, duration = 0, timeout = 300;
	long sample_ms = 0, every = 50, drift_at = -1, drift_share = -1;
	const char *drift_version = NULL;
	double label_rate = 0.25;
	const char *summary = NULL;
	int tls_per_device = 0, shared_verify = 0;
	long slot_kb = SIM_SLOT_KB;
	void *tls = NULL;
	uint64_t *next_drop = NULL, next_start = 0;
	struct sim_learner *learners = NULL;
	uint32_t *seeds = NULL;
	uint64_t *next_at = NULL;
	struct sim_device **devs;
	struct sim_ioset io = { .ep = -1 };
	char (*paths)[3][256];
	char (*ids)[TFP_DEVICE_ID_MAX + 1];
	struct tfp_cose_key key;
	size_t n_keys = 0, model_len = 0;
	uint8_t *model = NULL;
	char ca[256];
	long started = 0, up = 0, ever = 0, rss0, rss1;
	uint64_t t0, t_all = 0, last_tick = 0, end_at = 0;
	int rc = 1;

	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (strcmp(a, "--tls-per-device") == 0 || strcmp(a, "--shared-verify") == 0) {
			if (strcmp(a, "--tls-per-device") == 0)
				tls_per_device = 1;
			else
				shared_verify = 1;
			i--;
			continue;
		}
		if (v == NULL)
			usage();
		if (strcmp(a, "--pki") == 0) pki = v;
		else if (strcmp(a, "--devices") == 0) n = num(v);
		else if (strcmp(a, "--host") == 0) host = v;
		else if (strcmp(a, "--port") == 0) port = num(v);
		else if (strcmp(a, "--site") == 0) site = v;
		else if (strcmp(a, "--prefix") == 0) prefix = v;
		else if (strcmp(a, "--first") == 0) first = num(v);
		else if (strcmp(a, "--id-width") == 0) width = num(v);
		else if (strcmp(a, "--model") == 0) model_path = v;
		else if (strcmp(a, "--release-pub") == 0) pub_path = v;
		else if (strcmp(a, "--ramp") == 0) ramp = num(v);
		else if (strcmp(a, "--duration") == 0) duration = num(v);
		else if (strcmp(a, "--class") == 0) cls = v;
		else if (strcmp(a, "--timeout") == 0) timeout = num(v);
		else if (strcmp(a, "--sample-ms") == 0) sample_ms = num(v);
		else if (strcmp(a, "--every") == 0) every = num(v);
		else if (strcmp(a, "--drift-at") == 0) drift_at = num(v);
		else if (strcmp(a, "--drift-share") == 0) drift_share = num(v);
		else if (strcmp(a, "--drift-version") == 0) drift_version = v;
		else if (strcmp(a, "--transport") == 0) transport = v;
		else if (strcmp(a, "--coap-port") == 0) coap_port = num(v);
		else if (strcmp(a, "--label-rate") == 0) label_rate = fnum(v, 1.0);
		else if (strcmp(a, "--flaky-share") == 0) F.flaky_share = num(v);
		else if (strcmp(a, "--drop-rate") == 0) F.drop_rate = fnum(v, 6000.0);
		else if (strcmp(a, "--delay-ms") == 0) F.delay_ms = num(v);
		else if (strcmp(a, "--qos0-loss") == 0) F.qos0_loss = num(v);
		else if (strcmp(a, "--power-cut-share") == 0) F.cut_share = num(v);
		else if (strcmp(a, "--power-cut-at") == 0) F.cut_at = num(v);
		else if (strcmp(a, "--power-cut-rate") == 0) F.cut_rate = fnum(v, 1.0);
		else if (strcmp(a, "--power-cut-max") == 0) F.cut_max = num(v);
		else if (strcmp(a, "--seed") == 0) F.rng = (uint64_t)num(v) * 2654435761u + 1u;
		else if (strcmp(a, "--summary") == 0) summary = v;
		else if (strcmp(a, "--slot-kb") == 0) slot_kb = num(v);
		else usage();
	}
	if (drift_share < 0)
		drift_share = drift_version != NULL ? 100 : 0;
	if (pki == NULL || n <= 0 || model_path == NULL || ramp <= 0 || every <= 0 ||
	    drift_share > 100 || F.flaky_share > 100 || F.cut_share > 100 || F.qos0_loss > 100 ||
	    slot_kb < 1 || slot_kb > SIM_SLOT_KB_MAX)
		usage();
	if ((model = sim_read_file(model_path, &model_len)) == NULL) {
		fprintf(stderr, "tinyfleet-sim: cannot read model %s\n", model_path);
		return 1;
	}
	if (pub_path != NULL) {
		size_t plen;
		char *pem = (char *)sim_read_file(pub_path, &plen);
		if (pem == NULL || tfp_cose_key_from_pem(pem, &key) != 0) {
			fprintf(stderr, "tinyfleet-sim: bad release key %s\n", pub_path);
			free(pem);
			return 1;
		}
		free(pem);
		n_keys = 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	devs = calloc((size_t)n, sizeof(*devs));
	paths = calloc((size_t)n, sizeof(*paths));
	ids = calloc((size_t)n, sizeof(*ids));
	next_drop = calloc((size_t)n, sizeof(*next_drop));
	if (devs == NULL || paths == NULL || ids == NULL || next_drop == NULL ||
	    sim_ioset_init(&io, (size_t)n) != 0)
		goto out;
	if (sample_ms > 0) {
		learners = calloc((size_t)n, sizeof(*learners));
		seeds = calloc((size_t)n, sizeof(*seeds));
		next_at = calloc((size_t)n, sizeof(*next_at));
		if (learners == NULL || seeds == NULL || next_at == NULL)
			goto out;
		for (long i = 0; i < n; i++) {
			learners[i].every = (uint32_t)every;
			seeds[i] = (uint32_t)(first + i) * 2654435761u;
		}
	}
	raise_fd_limit(n);
	tfa_mqtt_global_init();
	if (!tls_per_device && (tls = tfa_mqtt_tls_shared(ca, host)) == NULL) {
		fprintf(stderr, "tinyfleet-sim: cannot make the TLS context from %s\n", ca);
		goto out;
	}
	sim_device_cut_hook = rearm_cut;
	rss0 = rss_kb();
	t0 = tfa_posix_mono_ms();
	while (!stop) {
		uint64_t t = tfa_posix_mono_ms();

		/* Start devices at the ramp rate (a 10,000-client thundering herd overflows the
		 * broker's listen backlog), each at a random point of its 1/ramp slot. */
		while (started < n && t - t0 >= next_start) {
			struct sim_device_opts o;
			long i = started++;
			snprintf(ids[i], sizeof(ids[i]), "%s%0*ld", prefix, (int)width, first + i);
			snprintf(paths[i][0], sizeof(paths[i][0]), "%s/devices/%s.crt", pki, ids[i]);
			snprintf(paths[i][1], sizeof(paths[i][1]), "%s/devices/%s.key", pki, ids[i]);
			memset(&o, 0, sizeof(o));
			o.device_id = ids[i];
			o.device_class = cls;
			o.site = site;
			o.host = host;
			o.port = (int)port;
			o.cafile = ca;
			o.certfile = paths[i][0];
			o.keyfile = paths[i][1];
			o.factory_model = model;
			o.factory_len = (uint32_t)model_len;
			o.keys = n_keys > 0 ? &key : NULL;
			o.n_keys = n_keys;
			o.transport = transport;
			o.coap_port = (int)coap_port;
			o.tls_shared = tls;
			o.arena = arena;
			o.slot_kb = (uint32_t)slot_kb;
			o.shared_verify = shared_verify;
			if ((devs[i] = malloc(sizeof(struct sim_device))) == NULL ||
			    sim_device_start(devs[i], &o) != 0) {
				fprintf(stderr, "tinyfleet-sim: %s did not start\n", ids[i]);
				goto out;
			}
			next_start = (uint64_t)(((double)started + urand()) * 1000.0 / (double)ramp);
			if (chosen(ids[i], F.flaky_share, 0xf1a)) {
				tfa_mqtt_faults(&devs[i]->mq, (uint32_t)F.delay_ms,
				                (unsigned)F.qos0_loss * 10u);
				if (F.drop_rate > 0.0)
					next_drop[i] = t + next_drop_in();
			}
			if (F.cut_at > 0 && chosen(ids[i], F.cut_share, 0x5eed))
				sim_device_power_cut(devs[i], (uint64_t)F.cut_at);
			else
				rearm_cut(devs[i]);
			watch(&io, devs, (size_t)i, 1);
		}
		(void)sim_ioset_wait(&io, 20, on_ready, &(struct ready_ctx){ &io, devs });
		t = tfa_posix_mono_ms();
		if (t - last_tick >= 100) {
			last_tick = t;
			up = 0;
			ever = 0;
			for (long i = 0; i < started; i++) {
				if (next_drop[i] != 0 && t >= next_drop[i]) {
					tfa_mqtt_drop(&devs[i]->mq, t);
					next_drop[i] = t + next_drop_in();
				}
				sim_device_tick(devs[i], t);
				up += sim_device_up(devs[i]);
				ever += sim_device_connects(devs[i]) > 0;
				if (sample_ms > 0 && !devs[i]->bricked)
					stream(devs[i], &learners[i], &seeds[i], &next_at[i], t,
					       (uint64_t)sample_ms, label_rate,
					       drifting(devs[i], &learners[i],
					                i * 100 < drift_share * n, drift_at,
					                drift_version, t, t0));
				/* A device still connecting may have a new socket under its old
				 * number: register it again. */
				watch(&io, devs, (size_t)i, !sim_device_up(devs[i]));
			}
			/* Connected once each (links that flap on purpose are not all up at once). */
			if (ever == n && t_all == 0) {
				t_all = t;
				rss1 = rss_kb();
				printf("tinyfleet-sim: %ld devices connected (mutual TLS) in %.2f s; "
				       "RSS %ld KB -> %ld KB, %.1f KB per device (struct sim_device "
				       "%zu B, of which struct tfa_ota %zu B; struct sim_learner %zu B "
				       "with --sample-ms)\n",
				       n, (double)(t_all - t0) / 1000.0, rss0, rss1,
				       (double)(rss1 - rss0) / (double)n, sizeof(struct sim_device),
				       sizeof(struct tfa_ota), sizeof(struct sim_learner));
				fflush(stdout);
				if (duration == 0)
					break;
				end_at = t + (uint64_t)duration * 1000u;
			}
			if (end_at != 0 && t >= end_at)
				break;
			if (t_all == 0 && timeout > 0 && t - t0 >= (uint64_t)timeout * 1000u)
				break;
		}
	}
	rc = t_all != 0 ? 0 : 1;
	if (t_all == 0)
		fprintf(stderr, "tinyfleet-sim: stopped with %ld of %ld devices connected\n", up, n);
out:
	if (shared_verify) {
		unsigned long checks, hits;
		sim_verify_shared_stats(&checks, &hits);
		fprintf(stderr, "tinyfleet-sim: shared verify: %lu signature checks, %lu answers "
		                "from them\n", checks, hits);
	}
	if (summary != NULL && devs != NULL &&
	    write_summary(summary, devs, learners, started) != 0)
		rc = 1;
	for (long i = 0; i < n && devs != NULL; i++) {
		if (devs[i] != NULL) {
			sim_device_stop(devs[i]);
			free(devs[i]);
		}
	}
	free(devs);
	free(learners);
	free(seeds);
	free(next_at);
	free(next_drop);
	sim_ioset_free(&io);
	free(paths);
	free(ids);
	free(model);
	tfa_mqtt_tls_shared_free(tls);
	tfa_mqtt_global_cleanup();
	return rc;
}
