/* Private to the OTA modules of the agent core (ota.c, ota_store.c). */
#ifndef TFA_OTA_INT_H
#define TFA_OTA_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "tinyfleet/agent/ota.h"

uint32_t tfa__slot_base(const struct tfa_ota *o, unsigned slot);
uint32_t tfa__slot_bytes(const struct tfa_ota *o);
int tfa__check_geometry(const struct tfa_port *p, const struct tfa_ota_config *cfg);
/* Newest valid metadata copy into o->meta (TFA_ERR_NO_MODEL when neither is valid). */
int tfa__meta_load(struct tfa_ota *o);
/* Writes o->meta into the other copy with the next sequence number. */
int tfa__meta_store(struct tfa_ota *o);
/* Sequential page writer into slot o->meta.job.slot, bounded by o->image_size. */
void tfa__wr_start(struct tfa_ota *o, uint32_t off);
int tfa__wr_write(void *user, uint32_t off, const uint8_t *buf, uint32_t len);
int tfa__wr_finish(struct tfa_ota *o);
/* Reads the active slot (the delta base). */
int tfa__read_old(void *user, uint32_t off, uint8_t *buf, uint32_t len);
/* SHA-256 of the first len bytes of a slot, read back from flash (uses o->page). */
int tfa__slot_digest(struct tfa_ota *o, unsigned slot, uint32_t len,
                     uint8_t out[TFP_DIGEST_LEN]);
bool tfa__slot_valid(struct tfa_ota *o, unsigned slot, struct tfa_model *m);

#endif
