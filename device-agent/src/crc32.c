/*
 * CRC-32 for the saved-state blobs. The core runs without an OS or zlib and mbedTLS has no
 * CRC, so this is the bitwise form: no 1 KB table in flash, and speed does not matter for a
 * few-KB blob written now and then. Known answer: "123456789" -> 0xCBF43926 (tested).
 */
#include "crc32.h"

uint32_t
tfa__crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}
