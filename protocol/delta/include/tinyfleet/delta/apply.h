/*
 * Streaming delta applier (device side): C99, no malloc, no OS, no global state.
 *
 * The caller owns one struct tfp_delta_apply (TFP_DELTA_APPLY_RAM: 7,984 bytes on x86-64,
 * 7,968 on Cortex-M4) and feeds the patch in chunks of any size as they arrive. The applier reads the old image by
 * offset through read_old (flash) and writes the new image strictly sequentially through
 * write_new (the spare slot), never past the size the patch announces. All decoder state,
 * including the entropy coder's probability tables, lives inside the struct.
 *
 * Resume after power loss: the patch is made of independently coded blocks, each producing
 * a fixed number of output bytes. At every block boundary (after that block's output was
 * handed to write_new and its CRC-32 checked) the applier records a checkpoint. The caller
 * may at any time serialize it with tfp_delta_apply_checkpoint() into a fixed 40-byte blob
 * (TFP_DELTA_CKPT_LEN) and persist it; after a reboot, tfp_delta_apply_resume() restores the
 * applier from the blob and the caller feeds the patch again from byte offset
 * tfp_delta_apply_patch_offset(). Output before the checkpoint's output offset is not
 * rewritten; output after it is written again (the spare slot region beyond the
 * checkpoint must be writable again, e.g. the caller erases those pages on resume).
 *
 * Threads: a struct belongs to one caller at a time; functions are reentrant otherwise.
 * Errors: every function returns 0 or a negative TFP_ERR_* code (tinyfleet/protocol/error.h).
 * After an error the applier stays failed: every further call returns the same code.
 */
#ifndef TINYFLEET_DELTA_APPLY_H
#define TINYFLEET_DELTA_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/delta/format.h"
#include "tinyfleet/protocol/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Read len bytes of the old image at offset off into buf. off + len never exceeds the old
 * size given to tfp_delta_apply_init(). Return 0, or a negative value on failure (the
 * applier then fails with TFP_ERR_DELTA_IO). buf is only valid during the call.
 */
typedef int (*tfp_delta_read_fn)(void *user, uint32_t off, uint8_t *buf, uint32_t len);

/*
 * Write len bytes of the new image at offset off. Offsets are sequential (each call starts
 * where the previous one ended, or at the checkpoint offset after a resume) and
 * off + len <= new size. Return 0 or negative (TFP_ERR_DELTA_IO).
 */
typedef int (*tfp_delta_write_fn)(void *user, uint32_t off, const uint8_t *buf, uint32_t len);

/* Staging buffers: compressed input, old image cache, output. */
#define TFP_DELTA_IN_BUF 64
#define TFP_DELTA_OLD_BUF 64
#define TFP_DELTA_OUT_BUF 128

/* Fields are private; they are public only so the caller can allocate the struct. */
struct tfp_delta_apply {
	tfp_delta_read_fn read_old;
	tfp_delta_write_fn write_new;
	void *user;
	uint32_t old_size, new_size, block_out, n_blocks, header_crc;
	uint32_t patch_off;       /* patch bytes consumed since byte 0 of the patch */
	uint32_t out_off;         /* new image bytes produced (written or buffered) */
	uint32_t block_idx;
	uint32_t ck_patch_off, ck_out_off, ck_block_idx;
	int state, err;
	uint32_t hdr_have;
	uint8_t hdr[TFP_DELTA_HDR_LEN];
	/* current block */
	uint32_t blk_comp_len, blk_comp_in, blk_out_left, blk_crc_want, blk_crc;
	uint32_t old_pos, op_left;
	uint32_t range, code;
	uint8_t stride_mask, phase, rc_overrun, kind, f32;
	uint16_t in_pos, in_len, out_len, old_len;
	uint32_t old_off;
	uint8_t in[TFP_DELTA_IN_BUF];
	uint8_t old[TFP_DELTA_OLD_BUF];
	uint8_t out[TFP_DELTA_OUT_BUF];
	struct tfp_delta_models m;
};

#define TFP_DELTA_APPLY_RAM sizeof(struct tfp_delta_apply)

/* Returned by tfp_delta_apply_feed() once the whole new image has been written. */
#define TFP_DELTA_DONE 1

/*
 * Prepare to apply a patch from its first byte. old_size is the size of the image in the
 * old slot; a patch made against another size fails with TFP_ERR_DELTA_OLD_SIZE (a patch
 * with old size 0, i.e. a full image, accepts any old slot and never reads it).
 * Errors: TFP_ERR_ARG (NULL pointer).
 */
int tfp_delta_apply_init(struct tfp_delta_apply *a, uint32_t old_size,
                         tfp_delta_read_fn read_old, tfp_delta_write_fn write_new, void *user);

/*
 * Consume len bytes of patch (any len, including 0). Returns 0 when more input is needed,
 * TFP_DELTA_DONE when the new image is complete (all output written), or an error:
 * TFP_ERR_DELTA_MAGIC, TFP_ERR_DELTA_VERSION, TFP_ERR_DELTA (malformed header, block or
 * coded stream), TFP_ERR_DELTA_OLD_SIZE, TFP_ERR_DELTA_BOUNDS, TFP_ERR_DELTA_CORRUPT,
 * TFP_ERR_DELTA_TRAILING (input after the last block), TFP_ERR_DELTA_IO.
 * The chunk is only read during the call.
 */
int tfp_delta_apply_feed(struct tfp_delta_apply *a, const uint8_t *chunk, size_t len);

/* 0 if the image is complete; TFP_ERR_DELTA_TRUNCATED if the patch ended early. */
int tfp_delta_apply_finish(const struct tfp_delta_apply *a);

/*
 * Serialize the last block-boundary checkpoint into blob[TFP_DELTA_CKPT_LEN]. Always
 * possible once init succeeded; before the first boundary it restarts from offset 0.
 * The blob carries a CRC-32, the patch header's CRC-32 and the sizes, so a torn blob or
 * one with inconsistent values is refused by tfp_delta_apply_resume(). The applier cannot
 * tell which patch the caller feeds after a resume: keep the blob with the identity of the
 * download it belongs to (e.g. the delta id), and compare tfp_delta_checkpoint_header_crc()
 * with the patch header's CRC when the header is at hand. A wrong patch still fails at its
 * first block's CRC-32.
 */
int tfp_delta_apply_checkpoint(const struct tfp_delta_apply *a, uint8_t *blob);

/*
 * Restore an applier from a checkpoint blob. The caller then feeds the patch from byte
 * tfp_delta_apply_patch_offset(). Errors: TFP_ERR_ARG, TFP_ERR_DELTA_CHECKPOINT (bad
 * magic, CRC or values), TFP_ERR_DELTA_OLD_SIZE.
 */
int tfp_delta_apply_resume(struct tfp_delta_apply *a, const uint8_t *blob, uint32_t old_size,
                           tfp_delta_read_fn read_old, tfp_delta_write_fn write_new,
                           void *user);

/* The patch header CRC-32 recorded in a checkpoint blob (bytes 28..31 of the header). */
uint32_t tfp_delta_checkpoint_header_crc(const uint8_t *blob);

/* Patch offset the next fed byte corresponds to (where a resumed feed must restart). */
uint32_t tfp_delta_apply_patch_offset(const struct tfp_delta_apply *a);

/* New image bytes handed to write_new so far, and the total (0 until the header is read). */
uint32_t tfp_delta_apply_written(const struct tfp_delta_apply *a);
uint32_t tfp_delta_apply_new_size(const struct tfp_delta_apply *a);

/* Blocks completed (each one a checkpoint). */
uint32_t tfp_delta_apply_blocks_done(const struct tfp_delta_apply *a);

/* IEEE CRC-32 (as zlib's crc32), continued from crc (start with 0). */
uint32_t tfp_delta_crc32(uint32_t crc, const uint8_t *p, size_t len);

#ifdef __cplusplus
}
#endif

#endif
