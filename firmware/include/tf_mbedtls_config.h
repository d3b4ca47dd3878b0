/*
 * mbedTLS 2.28 configuration of the device build (MBEDTLS_CONFIG_FILE): exactly what
 * manifest verification needs, ES256 = ECDSA over P-256 with SHA-256, and nothing else.
 *
 * Memory: mbedTLS allocates its bignums through calloc/free. The device has no heap, so
 * MBEDTLS_MEMORY_BUFFER_ALLOC_C serves them from a static arena that the firmware hands to
 * mbedtls_memory_buffer_alloc_init() at start (size: TF_MBEDTLS_HEAP in firmware/budgets.txt;
 * a verify peaks well below it, measured in bench/firmware/RESULTS.md).
 *
 * Size and speed, measured with fw_bench under QEMU -icount (bench/firmware/RESULTS.md):
 *  - MBEDTLS_ECP_NIST_OPTIM (P-256 fast reduction): +0.8 KB of flash, and a verify takes
 *    29.5 M instead of 158 M instructions (0.46 s instead of 2.5 s at 64 MHz). Kept.
 *  - MBEDTLS_ECP_WINDOW_SIZE 2: a window of 4 is +0.7 KB and no longer fits the 4 KB
 *    arena (verify fails with out-of-memory); 2 verifies within 2.9 KB.
 *  - no fixed-point table (one mbedtls_ecp_muladd per manifest), the smaller SHA-256 loop.
 */
#ifndef TF_MBEDTLS_CONFIG_H
#define TF_MBEDTLS_CONFIG_H

/* System: no OS, no entropy source, no time; calloc/free from the buffer allocator. */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
/* No libc calloc/free/printf/exit defaults: calloc would pull newlib's malloc and sbrk. */
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
/* The buffer allocator "exits" when it finds its heap corrupted: the firmware reports
 * that and stops (firmware/src/fw_target.c). */
#define MBEDTLS_PLATFORM_EXIT_MACRO tf_mbedtls_exit
void tf_mbedtls_exit(int status);

/* Verify path: bignum, P-256 arithmetic, ECDSA, SHA-256. ASN.1 is needed by ecdsa.c (its
 * DER signature helpers, dropped by the linker because COSE signatures are raw r||s). */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
/* Verification multiplies public values only, so the internal RNG that blinds secret
 * scalars (and would need a DRBG) is not wanted. A signing build must not use this. */
#define MBEDTLS_ECP_NO_INTERNAL_RNG
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_ECP_NIST_OPTIM

/* Sizes: 256-bit curves only. */
#define MBEDTLS_MPI_WINDOW_SIZE 1
#define MBEDTLS_MPI_MAX_SIZE 32
#define MBEDTLS_ECP_MAX_BITS 256
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0

#if defined(MBEDTLS_ECDSA_DETERMINISTIC) || defined(MBEDTLS_PK_C) || defined(MBEDTLS_FS_IO)
#error "the device build verifies only: no signing, no PK layer, no file system"
#endif

#include "mbedtls/check_config.h"

#endif
