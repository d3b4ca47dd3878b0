/* The firmware images' byte sink and mbedTLS heap on the board (semihosting stdout). */
#include <stdint.h>

#include "board.h"
#include "fw_out.h"
#include "fw_target.h"
#include "tf_mbedtls_config.h"

void
fw_write(const char *s, size_t len)
{
	tfa_board_write(s, len);
}

uint8_t fw_mbedtls_heap[TF_MBEDTLS_HEAP] __attribute__((aligned(8)));

void
tf_mbedtls_exit(int status)
{
	fw_str("mbedtls: heap corrupted\n");
	tfa_board_exit(status == 0 ? 98 : status);
}
