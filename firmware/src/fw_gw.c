#include "fw_gw.h"

#include <string.h>

#include <mbedtls/sha256.h>

#include "flash.h"
#include "fw_assets.h"
#include "hal.h"

static struct {
	uint8_t obj_id[TFP_DIGEST_LEN];
	int have_req;
	struct tfp_chunk_request req;
	uint8_t cmd[TFP_MANIFEST_MAX + TFP_COMMAND_WIRE_OVERHEAD];
	size_t cmd_len;
	int cmd_pending;
	struct tfp_report result;
	int have_result;
	uint32_t chunks;
} gw;

static int
gw_send(void *ctx, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	struct tfp_report r;

	(void)ctx;
	if (ch == TFA_CHAN_CHUNK_REQ) {
		if (tfp_chunk_request_decode(buf, len, &gw.req) != 0)
			return TFP_ERR_ARG;
		gw.have_req = 1;
	} else if (ch == TFA_CHAN_REPORT && tfp_report_decode(buf, len, &r) == 0 &&
	           r.type == TFP_MSG_RESULT) {
		gw.result = r;
		gw.have_result = 1;
	}
	return 0;
}

static int
gw_recv(void *ctx, enum tfa_chan *ch, uint8_t *buf, size_t cap, size_t *len)
{
	struct tfp_chunk_response r;

	(void)ctx;
	if (gw.cmd_pending) {
		gw.cmd_pending = 0;
		if (gw.cmd_len > cap)
			return 0;
		memcpy(buf, gw.cmd, gw.cmd_len);
		*len = gw.cmd_len;
		*ch = TFA_CHAN_CMD;
		return 1;
	}
	if (!gw.have_req)
		return 0;
	gw.have_req = 0;
	memset(&r, 0, sizeof(r));
	memcpy(r.object_id, gw.obj_id, TFP_DIGEST_LEN);
	r.total = fw_patch_ab_len;
	r.offset = gw.req.offset < fw_patch_ab_len ? gw.req.offset : fw_patch_ab_len;
	r.len = gw.req.length < fw_patch_ab_len - r.offset ? gw.req.length
	                                                    : fw_patch_ab_len - r.offset;
	r.data = fw_patch_ab + r.offset;
	if (tfp_chunk_response_encode(&r, buf, cap, len) != 0)
		return 0;
	gw.chunks++;
	*ch = TFA_CHAN_CHUNK_RESP;
	return 1;
}

int
fw_gw_boot(struct tfa_ota *o, struct tfa_port *port, struct tfa_ota_config *cfg,
           const struct tfp_cose_key *key, uint8_t *arena, size_t arena_len)
{
	static struct tfa_device_profile dev;
	int rc;

	tfa_board_flash_init();
	tfa_board_hal(port);
	port->send = gw_send;
	port->recv = gw_recv;
	memset(&dev, 0, sizeof(dev));
	dev.device_class = "mps2-an386";
	dev.ram_bytes = (uint32_t)arena_len;
	dev.agent_abi = 1;
	memset(cfg, 0, sizeof(*cfg));
	cfg->device = &dev;
	cfg->keys = key;
	cfg->n_keys = 1;
	cfg->meta_page = 0;
	cfg->slot_page[0] = 2;
	cfg->slot_page[1] = 2 + FW_GW_SLOT_PAGES;
	cfg->slot_pages = FW_GW_SLOT_PAGES;
	cfg->chunk_timeout_ms = 1000;
	cfg->chunk_retries = 3;
	cfg->progress_every = 4096;
	if ((rc = tfa_ota_provision(o, port, cfg, fw_model_a, fw_model_a_len, 1, "digits",
	                            "1.0.0")) != 0)
		return rc;
	return tfa_ota_init(o, port, cfg, arena, arena_len);
}

void
fw_gw_offer_b(struct tfp_command *c, uint64_t id)
{
	memset(c, 0, sizeof(*c));
	c->type = TFP_MSG_UPDATE;
	c->command_id = id;
	c->u.update.manifest = fw_manifest_b;
	c->u.update.manifest_len = fw_manifest_b_len;
	c->u.update.fetch = TFP_FETCH_DELTA;
	c->u.update.object_size = fw_patch_ab_len;
	c->u.update.chunk_size = FW_GW_CHUNK;
	(void)mbedtls_sha256_ret(fw_patch_ab, fw_patch_ab_len, c->u.update.object_id, 0);
	(void)mbedtls_sha256_ret(fw_model_a, fw_model_a_len, c->u.update.base_digest, 0);
	memcpy(gw.obj_id, c->u.update.object_id, TFP_DIGEST_LEN);
}

int
fw_gw_run(struct tfa_ota *o, const struct tfp_command *c, struct tfp_report *res)
{
	gw.have_result = 0;
	if (tfp_command_encode(c, gw.cmd, sizeof(gw.cmd), &gw.cmd_len) != 0)
		return -1;
	gw.cmd_pending = 1;
	for (unsigned i = 0; i < 100000; i++) {
		if (tfa_ota_poll(o) < 0)
			return -1;
		if (gw.have_result && gw.result.command_id == c->command_id) {
			*res = gw.result;
			return 0;
		}
	}
	return -1;
}

uint32_t
fw_gw_chunks(void)
{
	return gw.chunks;
}
