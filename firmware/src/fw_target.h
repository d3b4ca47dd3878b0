/* Target-only pieces of the firmware images. */
#ifndef TINYFLEET_FW_TARGET_H
#define TINYFLEET_FW_TARGET_H

#include <stdint.h>

/* Static arena mbedTLS allocates its bignums from (MBEDTLS_MEMORY_BUFFER_ALLOC_C); its
 * size comes from firmware/budgets.txt through the build. */
#ifndef TF_MBEDTLS_HEAP
#error "TF_MBEDTLS_HEAP must be set by the build (firmware/budgets.txt)"
#endif
extern uint8_t fw_mbedtls_heap[TF_MBEDTLS_HEAP];

#endif
