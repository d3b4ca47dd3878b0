/*
 * api: operator requests over MQTT v5 request/response (schemas/README.md is the contract).
 *
 * A request arrives on tf/<site>/api/req/<operation>/<operator-cn>; the broker's ACL
 * guarantees <operator-cn> is the sender, so it is the author recorded in the audit log.
 * The response goes to the request's response topic, which must lie under
 * tf/<site>/api/resp/<operator-cn>/ (else the request is dropped and logged: there is no
 * safe place to answer), with the request's correlation data. Every request gets exactly
 * one response: a result or {"ok": false, "error": {code, message, details}}.
 *
 * Requests run one at a time in arrival order on the loop thread, and a change is
 * committed before its response is sent (catalog.h, registry.h).
 *
 * The core's operations: model.publish, model.get, model.list, device.get, device.list,
 * device.tags, fleet.status; modules add theirs with gw_api_add_ops (rollout.*). An
 * operation no module registered answers `unknown_operation`.
 */
#ifndef GW_API_H
#define GW_API_H

#include <stdint.h>

#include <jansson.h>

#include "catalog.h"
#include "deltas.h"
#include "monitor.h"
#include "mqtt.h"
#include "registry.h"

/* A refusal being built: the contract's error code (schemas/README.md), a sentence for
 * people, optional details (owned). */
struct gw_api_error {
	const char *code;
	char message[GW_CATALOG_WHY_MAX + 64];
	json_t *details;
};

struct gw_api;

/* One operation: validates body (the request's JSON object, borrowed) and returns the
 * result object (owned by the caller), or NULL after filling *e (see gw_api_refuse). cn is
 * the requesting operator's certificate CN; ctx is what gw_api_add_ops was given. */
struct gw_api_op {
	const char *name;
	json_t *(*fn)(struct gw_api *a, void *ctx, const char *cn, json_t *body,
	              struct gw_api_error *e);
};

#define GW_API_MAX_GROUPS 8

struct gw_api {
	const char *site;
	struct gw_catalog *catalog;
	struct gw_registry *registry;
	struct gw_monitor *monitor;
	struct gw_mqtt *mqtt;
	struct gw_deltas *deltas;  /* optional: publishing prepares deltas when set */
	uint64_t started_ms;       /* for fleet.status */
	uint64_t requests;
	uint64_t refused;          /* answered with an error */
	uint64_t dropped;          /* no acceptable response topic */
	struct {
		const struct gw_api_op *ops;
		size_t n;
		void *ctx;
	} groups[GW_API_MAX_GROUPS];
	size_t n_groups;
	/* The rollout engine's share of fleet.status: appends its running and paused rollouts
	 * (rollout_ref objects) to `rollouts` and sets *updating; NULL: none. */
	void (*fleet_rollouts)(void *ctx, json_t *rollouts, json_int_t *updating);
	void *fleet_ctx;
};

/* Fills *e and returns NULL, so that an operation can `return gw_api_refuse(...)`. */
json_t *gw_api_refuse(struct gw_api_error *e, const char *code, json_t *details,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Adds a module's operations (a static table that outlives the api); ctx is passed to
 * each. 0 or -ENOSPC. The core's own operations (model.*, device.*, fleet.status) are
 * added by gw_api_init. */
int gw_api_add_ops(struct gw_api *a, const struct gw_api_op *ops, size_t n, void *ctx);

void gw_api_init(struct gw_api *a, const char *site, struct gw_catalog *catalog,
                 struct gw_registry *registry, struct gw_monitor *monitor,
                 struct gw_mqtt *mqtt);
/* The fleet-status document (schemas/operator/fleet-status.schema.json) without its "at"
 * member; NULL when out of memory. The caller owns the result. */
json_t *gw_api_fleet_status(struct gw_api *a);
/* Runs operation op for operator cn on a request body (a JSON object, borrowed): the
 * result (owned by the caller), or NULL with *e filled. What gw_api_on_request does after
 * the topic, response topic and JSON checks; the tests call it directly. */
json_t *gw_api_call(struct gw_api *a, const char *op, const char *cn, json_t *body,
                    struct gw_api_error *e);
/* Handles one message on tf/<site>/api/req/#. */
void gw_api_on_request(struct gw_api *a, const struct gw_mqtt_msg *m);

#endif
