/* Host twin of the TinyOL firmware image: the same fw_tinyol_run() on the host's libm and
 * FPU, printing to stdout, for firmware/compare_runs.py. */
#include <stdio.h>

#include "fw_core.h"
#include "fw_out.h"

void
fw_write(const char *s, size_t len)
{
	fwrite(s, 1, len, stdout);
}

int
main(void)
{
	int rc = fw_tinyol_run();

	if (rc != 0) {
		fprintf(stdout, "FAIL tinyol-run rc=%d\n", rc);
		return 1;
	}
	return 0;
}
