/* One simulated device (see device.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "verify_share.h"
#include "tinyfleet/agent/settings.h"
#include "tinyfleet/agent/telemetry_report.h"
#include "tinyfleet/protocol/msg_state.h"
#include "tinyfleet/protocol/telemetry.h"

#define SIM_AGENT_VERSION "0.1.0"
#define SIM_AGENT_ABI 0x00010002u

static const char *const sim_sensors[] = { "accel3", "temp" };

static int
dev_send(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	struct sim_device *d = user;

	return d->coap ? tfa_coap_send(&d->cq, ch, buf, len) : tfa_mqtt_send(&d->mq, ch, buf, len);
}

int
sim_device_up(const struct sim_device *d)
{
	return d->coap ? d->cq.up : d->mq.up;
}

int
sim_device_fd(const struct sim_device *d)
{
	return d->coap ? tfa_coap_fd(&d->cq) : tfa_mqtt_fd(&d->mq);
}

uint32_t
sim_device_connects(const struct sim_device *d)
{
	return d->coap ? d->cq.stats.connects : d->mq.connects;
}

short
sim_device_events(const struct sim_device *d)
{
	return d->coap ? tfa_coap_events(&d->cq) : tfa_mqtt_events(&d->mq);
}

void
sim_device_io(struct sim_device *d, short revents, uint64_t now_ms)
{
	if (d->coap)
		tfa_coap_io(&d->cq, revents, now_ms);
	else
		tfa_mqtt_io(&d->mq, revents, now_ms);
}

static void reboot(struct sim_device *d);

/* After anything the OTA core did: publish the state when its metadata changed. */
static void
after_core(struct sim_device *d, int rc)
{
	if (d->px.dead) {
		reboot(d);          /* an injected power cut: restart from the flash */
		return;
	}
	if (rc == TFA_ERR_FLASH || rc == TFA_ERR_COUNTER)
		fprintf(stderr, "%s: flash failed (%s); the device should restart\n", d->id,
		        tfa_strerror(rc));
	if (d->ota.meta.seq != d->meta_seq && sim_device_up(d))
		(void)sim_device_publish_state(d);
}

static void
dev_msg(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	struct sim_device *d = user;

	after_core(d, tfa_ota_handle(&d->ota, ch, buf, len));
}

static void
dev_conn(void *user, int up)
{
	struct sim_device *d = user;

	if (up && !d->bricked) {
		(void)sim_device_publish_state(d);
		(void)tfa_ota_poll(&d->ota);     /* flushes reports queued while offline */
	}
}

int
sim_device_publish_state(struct sim_device *d)
{
	struct tfp_state s;
	uint8_t buf[TFP_STATE_WIRE_MAX];
	size_t len;
	int rc;

	memset(&s, 0, sizeof(s));
	s.wire_version = TFP_WIRE_VERSION;
	snprintf(s.device_id, sizeof(s.device_id), "%s", d->id);
	snprintf(s.device_class, sizeof(s.device_class), "%s", d->profile.device_class);
	snprintf(s.agent_version, sizeof(s.agent_version), SIM_AGENT_VERSION);
	s.ram_bytes = d->profile.ram_bytes;
	s.flash_bytes = d->cfg.slot_pages * SIM_PAGE;
	s.agent_abi = d->profile.agent_abi;
	s.sensor_count = (uint8_t)d->profile.n_sensors;
	for (size_t i = 0; i < d->profile.n_sensors; i++)
		snprintf(s.sensors[i], sizeof(s.sensors[i]), "%s", d->profile.sensors[i]);
	tfa_ota_fill_state(&d->ota, &s);
	if ((rc = tfp_state_encode(&s, buf, sizeof(buf), &len)) != 0)
		return rc;
	if ((rc = dev_send(d, TFA_CHAN_STATE, buf, len)) != 0)
		return rc;
	d->meta_seq = d->ota.meta.seq;
	d->states_sent++;
	return 0;
}

int
sim_device_start(struct sim_device *d, const struct sim_device_opts *o)
{
	/* In memory the flash erases to 0x00, so its untouched pages cost no RAM (posix.h); a
	 * flash file keeps NOR's 0xFF. */
	uint32_t slot_pages = (o->slot_kb != 0 ? o->slot_kb : SIM_SLOT_KB) * 1024u / SIM_PAGE;
	struct tfa_flash_geom g = { SIM_PAGE, 2u + 2u * slot_pages, 8,
		                    o->flash_path == NULL ? 0x00 : 0xFF };
	struct tfa_mqtt_opts mo;
	uint64_t seed = 0;
	int rc;

	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", o->device_id);
	for (const char *p = d->id; *p != '\0'; p++)
		seed = seed * 131u + (uint8_t)*p;
	if ((rc = tfa_posix_open(&d->px, o->flash_path, &g, seed)) != 0)
		return rc;
	d->px.send = dev_send;
	d->px.user = d;
	tfa_posix_port(&d->px, &d->port);
	d->profile.device_class = o->device_class;
	d->arena = o->arena;
	if (d->arena == NULL) {
		/* malloc aligns for max_align_t (16 bytes on the hosts we run on) */
		if ((d->arena_own = malloc(SIM_ARENA)) == NULL)
			return TFP_ERR_ARG;
		d->arena = d->arena_own;
	}
	d->profile.ram_bytes = SIM_ARENA;
	d->profile.agent_abi = SIM_AGENT_ABI;
	d->profile.n_sensors = sizeof(sim_sensors) / sizeof(sim_sensors[0]);
	d->profile.sensors = sim_sensors;
	d->cfg.device = &d->profile;
	d->cfg.keys = o->keys;
	d->cfg.n_keys = o->n_keys;
	d->cfg.meta_page = 0;
	d->cfg.slot_page[0] = 2;
	d->cfg.slot_page[1] = 2 + slot_pages;
	d->cfg.slot_pages = slot_pages;
	if (o->shared_verify)
		d->cfg.verify_manifest = sim_verify_shared;
	rc = tfa_ota_init(&d->ota, &d->port, &d->cfg, d->arena, SIM_ARENA);
	if (rc == TFA_ERR_NO_MODEL && o->factory_model != NULL) {
		rc = tfa_ota_provision(&d->ota, &d->port, &d->cfg, o->factory_model,
		                       o->factory_len, 1, "factory", "0.0.0");
		if (rc == 0)
			rc = tfa_ota_init(&d->ota, &d->port, &d->cfg, d->arena, SIM_ARENA);
	}
	if (rc != 0)
		return rc;
	d->boots = 1;
	if (o->transport != NULL && strcmp(o->transport, "coap") == 0) {
		struct tfa_coap_opts co = { o->host, o->coap_port, o->cafile, o->certfile,
		                            o->keyfile, o->device_id, NULL, 0 };
		d->coap = 1;
		return tfa_coap_init(&d->cq, &co, dev_msg, dev_conn, d);
	}
	memset(&mo, 0, sizeof(mo));
	mo.host = o->host;
	mo.port = o->port;
	mo.cafile = o->cafile;
	mo.certfile = o->certfile;
	mo.keyfile = o->keyfile;
	mo.site = o->site;
	mo.device_id = o->device_id;
	mo.tls_shared = o->tls_shared;
	mo.seed = (uint32_t)seed;
	return tfa_mqtt_init(&d->mq, &mo, dev_msg, dev_conn, d);
}

void
sim_device_tick(struct sim_device *d, uint64_t now_ms)
{
	if (d->bricked) {
		/* No goodbye: it is dead. */
		if (d->coap) {
			d->cq.up = 0;
			tfa_coap_close(&d->cq);
		} else {
			d->mq.up = 0;
			tfa_mqtt_close(&d->mq);
		}
		return;
	}
	sim_device_io(d, 0, now_ms);
	after_core(d, tfa_ota_poll(&d->ota));
}

/* ---- power cuts --------------------------------------------------------------------- */

void (*sim_device_cut_hook)(struct sim_device *d);

void
sim_device_power_cut(struct sim_device *d, uint64_t n)
{
	d->px.cut_at = d->px.ops + (n > 0 ? n : 1);
}

static void
add_stats(struct tfa_ota_stats *t, const struct tfa_ota_stats *s)
{
	t->requests += s->requests;
	t->responses += s->responses;
	t->stale += s->stale;
	t->reports_dropped += s->reports_dropped;
	t->verifies += s->verifies;
	t->confirms += s->confirms;
	t->reverts += s->reverts;
	t->rollbacks += s->rollbacks;
	t->duplicates += s->duplicates;
	t->configs += s->configs;
}

void
sim_device_stats(const struct sim_device *d, struct tfa_ota_stats *out)
{
	*out = d->totals;
	add_stats(out, &d->ota.stats);
}

/* The restart after a cut: what a device's reset does, in the order it does it. */
static void
reboot(struct sim_device *d)
{
	int rc;

	d->power_cuts++;
	add_stats(&d->totals, &d->ota.stats);
	if (!d->coap)
		tfa_mqtt_drop(&d->mq, 0);  /* the radio died with the power */
	do {
		tfa_posix_power_on(&d->px);
		if (sim_device_cut_hook != NULL)
			sim_device_cut_hook(d);   /* may arm a cut inside the boot itself */
		d->boots++;
		rc = tfa_ota_init(&d->ota, &d->port, &d->cfg, d->arena, SIM_ARENA);
		if (d->px.dead)
			d->power_cuts++;
	} while (d->px.dead && d->power_cuts < 1000);
	if (rc != 0) {
		fprintf(stderr, "%s: BRICKED after a power cut: %s\n", d->id, tfa_strerror(rc));
		d->bricked = 1;
		return;
	}
	d->meta_seq = 0;                   /* publish the state once the link is back */
}

void
sim_device_stop(struct sim_device *d)
{
	if (d->coap)
		tfa_coap_close(&d->cq);
	else
		tfa_mqtt_close(&d->mq);
	tfa_posix_close(&d->px);
	free(d->arena_own);
	d->arena_own = NULL;
}

unsigned
sim_model_inputs(const struct sim_device *d)
{
	const struct tfp_container_info *i = &tfa_ota_model(&d->ota)->c.info;

	return i->in_len * i->in_ch;
}

unsigned
sim_model_outputs(const struct sim_device *d)
{
	const struct tfp_container_info *i = &tfa_ota_model(&d->ota)->c.info;

	return i->out_len * i->out_ch;
}

/* The model's training statistics for the data-drift detectors, when it ships them and
 * they fit: a mean and a positive variance per input (PSI bins too when present). */
static int
train_stats(const struct tfa_model *m, struct tfa_drift_train_stats *st)
{
	struct tfp_tensor tm, tv, te, tf;
	unsigned nin = m->c.info.in_len * m->c.info.in_ch;

	memset(st, 0, sizeof(*st));
	if (nin == 0 || nin > TFA_DRIFT_MAX_FEATURES ||
	    tfp_container_find(&m->c, TFP_KIND_FEAT_MEAN, &tm) != 0 ||
	    tfp_container_find(&m->c, TFP_KIND_FEAT_VAR, &tv) != 0 ||
	    tm.count != nin || tv.count != nin || tm.dtype != TFP_DTYPE_FLOAT32 ||
	    tv.dtype != TFP_DTYPE_FLOAT32)
		return 0;
	st->n_features = (uint16_t)nin;
	st->mean = (const float *)(const void *)tm.data;
	st->var = (const float *)(const void *)tv.data;
	for (unsigned i = 0; i < nin; i++)
		if (!(st->var[i] > 0.0f))
			return 0;
	if (tfp_container_find(&m->c, TFP_KIND_PSI_EDGES, &te) == 0 &&
	    tfp_container_find(&m->c, TFP_KIND_PSI_FRAC, &tf) == 0 && tf.rank == 2 &&
	    tf.shape[0] == nin && tf.shape[1] >= 2 && tf.shape[1] <= TFA_DRIFT_MAX_BINS &&
	    te.count == nin * (tf.shape[1] - 1) && te.dtype == TFP_DTYPE_FLOAT32 &&
	    tf.dtype == TFP_DTYPE_FLOAT32) {
		st->n_bins = (uint16_t)tf.shape[1];
		st->edges = (const float *)(const void *)te.data;
		st->frac = (const float *)(const void *)tf.data;
	}
	return 1;
}

/* (Re)starts the drift bundle on the running model with the device's settings. */
static void
learner_drift_start(struct sim_learner *l, struct sim_device *d)
{
	struct tfa_drift_config cfg;
	struct tfa_drift_train_stats st;
	int has = train_stats(tfa_ota_model(&d->ota), &st);

	tfa_settings_drift(tfa_ota_settings(&d->ota), &cfg);
	/* DDM alarms on the first error of a model that has made none yet (its s_min = 0
	 * rule): the sim's models are near-exact on clean data, so every rare error would be a
	 * false alarm. HDDM_A tests the same error rate with a Hoeffding bound instead. */
	cfg.enabled &= ~TFA_DRIFT_DDM;
	l->configs = d->ota.stats.configs;
	if (tfa_drift_init(&l->drift, &cfg, has ? &st : NULL) != 0 &&
	    (!has || tfa_drift_init(&l->drift, &cfg, NULL) != 0))
		(void)tfa_drift_init(&l->drift, NULL, NULL);   /* the published defaults */
}

static void
learner_report(struct sim_learner *l, struct sim_device *d, uint64_t t_ms)
{
	static struct tfp_telemetry scratch;     /* one thread drives every learner */
	const struct tfa_ota_slot *s = &d->ota.meta.slot[d->ota.meta.active];
	struct tfa_drift_report r;
	struct tfa_telemetry_source src;
	struct tfp_telem_enc_info info;
	uint8_t buf[1024];

	(void)tfa_drift_report(&l->drift, &r, 0);
	/* Loss and accuracy since the model started (what the gateway's quality gates compare
	 * with the device's own baseline), not the bundle's short interval. */
	r.n_predictions = l->samples;
	r.n_labels = l->labelled;
	r.i_mean_loss = l->labelled > 0 ? l->loss_sum / (float)l->labelled : 0.0f;
	r.i_accuracy = l->labelled > 0 ? (float)l->correct / (float)l->labelled : 0.0f;
	memset(&src, 0, sizeof(src));
	src.device_id = d->id;
	src.model = s->name;
	src.version = s->version;
	src.time = (double)(t_ms - l->t0) / 1000.0;
	src.drift = &l->drift;
	src.report = &r;
	src.tinyol = &l->tol;
	/* Through the port's send hook (dev_send unless a test captures it). */
	if (tfa_telemetry_build(&src, &scratch, buf, sizeof(buf), &info) != 0 ||
	    d->px.send(d->px.user, TFA_CHAN_TELEMETRY, buf, info.len) != 0)
		return;    /* offline: the alarms stay latched for the next record */
	(void)tfa_drift_report(&l->drift, &r, 1);
	l->alarm_reports += r.alarms != 0;
}

int
sim_learner_step(struct sim_learner *l, struct sim_device *d, const float *x, int label,
                 uint64_t t_ms)
{
	const struct tfa_ota_slot *s = &d->ota.meta.slot[d->ota.meta.active];
	const struct tfa_model *m = tfa_ota_model(&d->ota);
	const struct tfa_settings *cfg = tfa_ota_settings(&d->ota);
	const float *y;
	unsigned k, nout;
	uint32_t every;
	int raised, r;

	if (!l->ready || memcmp(l->digest, s->digest, TFP_DIGEST_LEN) != 0) {
		memcpy(l->digest, s->digest, TFP_DIGEST_LEN);
		l->ready = tfa_tinyol_init(&l->tol, m, NULL) == 0 ? 1 : -1;
		l->samples = l->labelled = l->correct = 0;
		l->loss_sum = l->conf_sum = 0.0f;
		l->t0 = l->last_report = t_ms;
		if (l->every == 0)
			l->every = 50;
		learner_drift_start(l, d);
	} else if (l->configs != d->ota.stats.configs) {
		learner_drift_start(l, d);     /* new thresholds from a config command */
	}
	if (l->ready < 0)
		return TFA_ERR_MODEL;
	if (tfa_tinyol_predict(&l->tol, x, d->arena, SIM_ARENA, &y) != 0)
		return 0;
	k = tfa_tinyol_argmax(&l->tol);
	nout = sim_model_outputs(d);
	l->samples++;
	l->conf_sum += y[k];
	r = tfa_drift_on_prediction(&l->drift, x, y,
	                            m->c.info.task == TFP_TASK_CLASSIFY ? (uint16_t)nout : 0);
	raised = r > 0 ? r : 0;
	if (label >= 0 && m->c.info.task == TFP_TASK_CLASSIFY && (unsigned)label < nout) {
		l->correct += k == (unsigned)label;
		if (tfa_tinyol_learn_class(&l->tol, (unsigned)label) == 0) {
			l->labelled++;
			l->loss_sum += l->tol.last_loss;
			r = tfa_drift_on_label(&l->drift, l->tol.last_loss, k == (unsigned)label);
			raised |= r > 0 ? r : 0;
		}
	}
	every = cfg->telemetry_samples != 0 ? cfg->telemetry_samples : l->every;
	if (raised > 0 || l->samples % every == 0 ||
	    (cfg->telemetry_period_s != 0 &&
	     t_ms - l->last_report >= (uint64_t)cfg->telemetry_period_s * 1000u)) {
		learner_report(l, d, t_ms);
		l->last_report = t_ms;
	}
	return 0;
}

uint8_t *
sim_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}
