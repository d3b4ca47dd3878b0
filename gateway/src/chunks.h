/*
 * chunks: serves the objects devices pull for an update (full images, packed images,
 * delta patches) in offset-based chunks, on tf/<site>/dev/<id>/chunk/req -> .../chunk/resp.
 *
 * Objects are store blobs addressed by their SHA-256 (the offer's object id), so a pull
 * resumes from any offset after a reconnect or a power cut on the device. Within a fleet
 * models are not secret: any device may pull any published object; what it may install is
 * decided on the device by the signed manifest. A request for an unknown object, or past
 * its end, is logged and counted and gets no answer (the device gives up by its own
 * stall timer and reports it).
 *
 * Rate limits: a global and a per-device budget in bytes per second (token buckets with
 * one second of burst). A request that would exceed either waits in a bounded FIFO and is
 * served by a loop timer as tokens come back; a full FIFO drops the request (counted). A
 * repeat of the ask a device has waiting (its stall timer's re-ask) is dropped (merged).
 * Loop thread only.
 */
#ifndef GW_CHUNKS_H
#define GW_CHUNKS_H

#include <stdint.h>

#include <uv.h>

#include "devtab.h"
#include "mqtt.h"
#include "store.h"

#define GW_CHUNKS_QUEUE_MAX 8192

struct gw_chunks_stats {
	uint64_t served;           /* responses sent */
	uint64_t bytes;            /* payload bytes sent */
	uint64_t deferred;         /* requests that waited for tokens */
	uint64_t dropped;          /* requests dropped: queue full */
	uint64_t merged;           /* re-asks dropped: the same ask was already waiting, here
	                            * or its answer in the MQTT link's queue */
	uint64_t refused;          /* malformed, unknown object or past its end */
};

struct gw_chunk_wait;

struct gw_chunks {
	uv_loop_t *loop;
	struct gw_store *store;
	struct gw_mqtt *mqtt;
	char site[33];
	uint64_t rate;             /* bytes/s for all devices, 0 = unlimited */
	uint64_t device_rate;      /* bytes/s per device, 0 = unlimited */
	double tokens;             /* global bucket */
	uint64_t refilled_ms;
	struct gw_devtab buckets;  /* per-device buckets, created on first request */
	struct gw_chunk_wait *head, *tail;
	size_t queued;
	uv_timer_t timer;
	struct gw_chunks_stats stats;
};

/* rate/device_rate in bytes per second, 0 = unlimited. */
int gw_chunks_init(uv_loop_t *loop, struct gw_chunks *c, struct gw_store *store,
                   struct gw_mqtt *mqtt, const char *site, uint64_t rate, uint64_t device_rate);
void gw_chunks_set_rates(struct gw_chunks *c, uint64_t rate, uint64_t device_rate);
/* A message on tf/<site>/dev/<id>/chunk/req (id authenticated by the broker). */
void gw_chunks_on_request(struct gw_chunks *c, const char *id, const uint8_t *msg, size_t len);
/* Drops queued requests and closes the timer; safe to call once. */
void gw_chunks_close(struct gw_chunks *c);

#endif
