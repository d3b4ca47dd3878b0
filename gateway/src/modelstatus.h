/*
 * modelstatus: the retained tf/<site>/status/model/<name> topics (schema model-status):
 * every published version of each model with the devices running it (confirmed, active),
 * how many are online and drifting, and the mean of the quality figures the devices
 * reporting on that version sent last.
 *
 * The daemon calls gw_model_status_publish once a second; a model's document is published
 * (retained, QoS 1) only when it differs from the last one published, so the rate is at
 * most once a second per topic and nothing is sent while nothing changes. Documents are
 * built from memory (registry, monitor) and the catalog's records. Loop thread only.
 */
#ifndef GW_MODELSTATUS_H
#define GW_MODELSTATUS_H

#include <jansson.h>

#include "api.h"
#include "mqtt.h"

struct gw_model_status {
	json_t *last;              /* model name -> the document last published, without "at" */
	uint64_t published;
};

void gw_model_status_init(struct gw_model_status *s);
void gw_model_status_free(struct gw_model_status *s);

/* Every model's status document without its "at" member, as an object name -> document;
 * NULL when out of memory or the store failed. The caller owns the result. */
json_t *gw_model_status_build(struct gw_api *a);

/* Publishes the documents that changed under tf/<site>/status/model/<name>; returns how
 * many were published. */
int gw_model_status_publish(struct gw_model_status *s, struct gw_api *a, struct gw_mqtt *m);

#endif
