/*
 * Signature checks shared by the simulated devices of one process.
 *
 * A fleet's devices each check a manifest on their own CPU, in parallel. Simulated on one
 * host, a thousand devices checking the same ES256 manifest cost a thousand times 1.4 ms
 * of the cores the broker and the gateway need. sim_verify_shared gives every device the
 * result of one real tfp_manifest_verify per distinct manifest (bytes and key set): the
 * same answer, computed once. Expiry is checked per call against the caller's clock.
 * For benchmarks of the gateway (tinyfleet-sim --shared-verify); single-threaded.
 */
#ifndef TF_SIM_VERIFY_SHARE_H
#define TF_SIM_VERIFY_SHARE_H

#include "tinyfleet/protocol/manifest.h"

/* tfa_ota_config.verify_manifest's signature; `user` is unused. */
int sim_verify_shared(void *user, const uint8_t *msg, size_t len,
                      const struct tfp_cose_key *keys, size_t n_keys, uint64_t now,
                      struct tfp_manifest *m);

/* Real checks run and answers given from the memo, for the summary. */
void sim_verify_shared_stats(unsigned long *checks, unsigned long *hits);

#endif
