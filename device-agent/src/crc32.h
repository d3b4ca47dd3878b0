/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), private to the agent core. */
#ifndef TFA_CRC32_H
#define TFA_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0; the result of one call feeds the next. */
uint32_t tfa__crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
