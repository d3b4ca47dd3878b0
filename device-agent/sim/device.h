/*
 * One simulated device on the host: port/posix flash (memory or file), the OTA core, the
 * MQTT or CoAP/DTLS transport and its identity. Used by tinyfleet-agent (one device) and tinyfleet-sim
 * (many devices in one thread).
 *
 * Ownership: the caller owns struct sim_device (large: keep it in static or heap storage)
 * and the option strings, which must outlive it. Threads: one thread drives all devices.
 */
#ifndef TINYFLEET_SIM_DEVICE_H
#define TINYFLEET_SIM_DEVICE_H

#include <stdint.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/agent/ota.h"
#include "tinyfleet/agent/tinyol.h"
#include "tinyfleet/port/coap.h"
#include "tinyfleet/port/mqtt.h"
#include "tinyfleet/port/posix.h"

struct sim_device_opts {
	const char *device_id;
	const char *device_class;
	const char *site;
	const char *host;
	int port;
	const char *cafile, *certfile, *keyfile;
	const char *flash_path;            /* NULL: flash in memory */
	const uint8_t *factory_model;      /* provisioned when the flash holds no model */
	uint32_t factory_len;
	const struct tfp_cose_key *keys;
	size_t n_keys;
	const char *transport;             /* NULL or "mqtt": broker at host:port; "coap": the
	                                    * gateway's CoAP/DTLS endpoint at host:coap_port */
	int coap_port;
	void *tls_shared;                  /* tfa_mqtt_tls_shared() for many devices, or NULL */
	uint8_t *arena;                    /* SIM_ARENA bytes, 16-aligned, shared by devices of
	                                      one thread (scratch only), or NULL: its own */
	uint32_t slot_kb;                  /* size of each model slot, KiB (0: SIM_SLOT_KB) */
	int shared_verify;                 /* 1: sim_verify_shared (verify_share.h) */
};

struct sim_device {
	struct tfa_posix px;
	struct tfa_port port;
	struct tfa_ota_config cfg;
	struct tfa_device_profile profile;
	struct tfa_mqtt mq;
	struct tfa_coap cq;
	int coap;                          /* 1: cq is the transport, else mq */
	char id[TFP_DEVICE_ID_MAX + 1];
	uint32_t meta_seq;                 /* metadata version last published in state */
	uint32_t states_sent;
	/* power cuts (sim_device_power_cut): counted over the device's life, across reboots */
	uint32_t power_cuts, boots;
	uint8_t bricked;                   /* rebooted without a valid confirmed model */
	struct tfa_ota_stats totals;       /* OTA counters of the boots before this one */
	uint8_t *arena;                    /* SIM_ARENA bytes of scratch (self-test, inference) */
	uint8_t *arena_own;                /* allocated when not shared */
	struct tfa_ota ota;
};

/* Scratch RAM for models (the device's RAM budget). */
#define SIM_ARENA 8192u

/* Flash geometry of a simulated device: 1 KB pages, 2 metadata pages, two slots of
 * SIM_SLOT_KB KiB by default (--slot-kb; a flash file must keep the size it was made with). */
#define SIM_PAGE 1024u
#define SIM_SLOT_KB 16u
#define SIM_SLOT_KB_MAX 1024u

/* Opens the flash, provisions it if empty, boots the OTA core and starts connecting.
 * Returns 0 or a negative TFP_/TFA_ code. */
int sim_device_start(struct sim_device *d, const struct sim_device_opts *o);

/* Timers of the OTA core and the link; call every few ten milliseconds. */
void sim_device_tick(struct sim_device *d, uint64_t now_ms);

/* The transport's link state and I/O, whichever transport the device uses. */
int sim_device_up(const struct sim_device *d);
int sim_device_fd(const struct sim_device *d);
/* Links established since start (any transport). */
uint32_t sim_device_connects(const struct sim_device *d);
short sim_device_events(const struct sim_device *d);
void sim_device_io(struct sim_device *d, short revents, uint64_t now_ms);

/* Publishes the state message (retained). 0 or TFA_ERR_OFFLINE. */
int sim_device_publish_state(struct sim_device *d);

void sim_device_stop(struct sim_device *d);

/*
 * Power cuts (port/posix instrumentation): sim_device_power_cut arms a cut at the n-th flash
 * operation from now (write, erase or counter raise; n >= 1). When it fires, the core's
 * call fails with TFA_ERR_FLASH and the device restarts at once: power back, the link cut
 * as by a dead device (the broker publishes its will), the OTA core booted again from the
 * flash (resuming or reverting the interrupted update), the link re-established with
 * backoff. A boot that cannot find a valid confirmed model marks the device bricked and
 * keeps it offline. sim_device_cut_hook (may be NULL) is called after each restart, e.g. to
 * arm the next cut.
 */
void sim_device_power_cut(struct sim_device *d, uint64_t n);
extern void (*sim_device_cut_hook)(struct sim_device *d);

/* The OTA counters over all boots (totals + the running boot's). */
void sim_device_stats(const struct sim_device *d, struct tfa_ota_stats *out);

/*
 * The device's learning loop: each sample goes through the running model with TinyOL (an
 * SGD step when it carries a label) and through the agent's drift bundle (drift.h:
 * Page-Hinkley, ADWIN, HDDM_A on the error (not DDM: device.c says why), confidence, and
 * data shift / PSI when the
 * model carries training statistics with a positive variance for every input). Every
 * `every` samples a SenML-CBOR telemetry record (tfa_telemetry_build: samples, labelled,
 * loss and accuracy since the model started, mean confidence, the detectors' scores and
 * the alarms raised since the previous record as "why" bits) is published, or as the
 * gateway's config commands say (tfa_ota_settings: telemetry samples replace `every`, a
 * telemetry period adds a record at least every period seconds); a sample that raises a
 * new alarm publishes a record at once (DESIGN.md). The detectors' thresholds come from the
 * device's settings (tfa_settings_drift), so a config command changes them: the bundle
 * restarts with the new thresholds when one is applied. When the OTA core switches models
 * (update, rollback, revert) the learner and the detectors start afresh on the new one.
 *
 * Memory: struct tfa_drift (3040 B on x86-64) is most of the struct; the 504-byte
 * telemetry scratch is one static buffer shared by all learners (one thread).
 */
struct sim_learner {
	struct tfa_tinyol tol;
	struct tfa_drift drift;
	uint8_t digest[TFP_DIGEST_LEN];          /* model the learner is bound to */
	int ready;
	uint32_t samples, labelled, correct, every;
	uint32_t configs;                        /* OTA configs applied when the bundle started */
	uint32_t alarm_reports;                  /* records published with an alarm, ever */
	float loss_sum, conf_sum;
	uint64_t t0, last_report;
};

/* Inputs the model expects (in_len * in_ch) and its outputs (classes). */
unsigned sim_model_inputs(const struct sim_device *d);
unsigned sim_model_outputs(const struct sim_device *d);

/* One sample x (sim_model_inputs floats) with label (-1: none) at time t_ms. Returns 0, or
 * TFA_ERR_MODEL when the running model has no update layer (inference only). */
int sim_learner_step(struct sim_learner *l, struct sim_device *d, const float *x, int label,
                     uint64_t t_ms);

/* The whole file at path (NUL-terminated after *len bytes, for PEM text) in malloc'd
 * memory the caller frees; NULL when it cannot be read or is empty. */
uint8_t *sim_read_file(const char *path, size_t *len);

#endif
