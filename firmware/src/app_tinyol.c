/* Firmware image: the TinyOL replay with drift (fw_tinyol_run); exits 0 when it ran. */
#include "fw_core.h"
#include "fw_out.h"

int main(void);

int
main(void)
{
	int rc = fw_tinyol_run();

	if (rc != 0) {
		fw_str("FAIL tinyol-run rc=");
		fw_i32(rc);
		fw_str("\n");
		return 1;
	}
	return 0;
}
