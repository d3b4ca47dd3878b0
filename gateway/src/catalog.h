/*
 * catalog: published model versions and their images.
 *
 * Publishing takes a signed manifest (COSE_Sign1, ES256) and the container it names. The
 * gateway verifies the signature against its configured release public keys (it holds no
 * private key and cannot forge a manifest), checks the container's size and SHA-256
 * against the manifest, checks that the container is a model the devices can read and that
 * it names the same model and version, and refuses anything else with one of the operator contract's
 * error codes (schemas/README.md "Error codes"). Accepted versions are committed to the
 * store (the container as a blob addressed by its digest) with an audit entry before the
 * caller answers. Publishing the same version again is a no-op that answers ok.
 *
 * Loop thread only. Functions return 0 or a negative errno; on a refusal the API error
 * code string is set in *code (static storage) and a sentence for people in why[].
 */
#ifndef GW_CATALOG_H
#define GW_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/manifest.h"

#define GW_CATALOG_MAX_KEYS 16
#define GW_CATALOG_MANIFEST_MAX 4096
#define GW_CATALOG_CONTAINER_MAX (1u << 20)
#define GW_CATALOG_WHY_MAX 256      /* a refusal's sentence for people */

struct gw_catalog {
	struct gw_store *store;
	struct tfp_cose_key keys[GW_CATALOG_MAX_KEYS];
	size_t nkeys;
};

/* A published version as the catalog keeps it. */
struct gw_model {
	struct tfp_manifest m;
	uint64_t published_ms;
	char published_by[65];
};

/* Loads the release public keys: every PEM public key block in the file at path. A file
 * without any usable key is an error (-ENOKEY), as is a block that is not P-256 (-EINVAL). */
int gw_catalog_open(struct gw_catalog *c, struct gw_store *s, const char *release_keys_path);

int gw_catalog_publish(struct gw_catalog *c, const uint8_t *manifest, size_t mlen,
                       const uint8_t *container, size_t clen, const char *by,
                       uint64_t now_ms, struct gw_model *out, int *created,
                       const char **code, char why[GW_CATALOG_WHY_MAX]);

/* Looks a version up by name and version text: 0, -ENOENT. */
int gw_catalog_find_version(struct gw_catalog *c, const char *name, const char *version,
                            struct gw_model *out);

/* The version of name with the highest sequence: 0, -ENOENT. */
int gw_catalog_latest(struct gw_catalog *c, const char *name, struct gw_model *out);

/* Every published version (of model `name` when not NULL), in key order: by name, then by
 * sequence. *out is malloc'd (free it; NULL when none). 0, -ENOMEM or a store error. */
int gw_catalog_list(struct gw_catalog *c, const char *name, struct gw_model **out, size_t *n);

/* Looks a version up by name and sequence: 0, -ENOENT. */
int gw_catalog_get(struct gw_catalog *c, const char *name, uint64_t seq, struct gw_model *out);

/* Copies the signed manifest (COSE_Sign1 bytes, as published) of a version into buf, which
 * an update offer carries: 0, -ENOENT, -ENOBUFS (cap too small), -EBADMSG. */
int gw_catalog_manifest(struct gw_catalog *c, const char *name, uint64_t seq, uint8_t *buf,
                        size_t cap, size_t *len);

#endif
