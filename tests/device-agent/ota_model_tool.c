/*
 * ota-model-tool OUT.tfm [VARIANT]: writes the OTA tests' model container (a ~7.7 KB
 * 16->64->64->4 classifier with self-test vectors; VARIANT > 0 is a fine-tune of 0) for the
 * simulator and its benchmark. Reuses the tests' builder, hence cmocka.
 */
#include "ota_test_util.h"

int
main(int argc, char **argv)
{
	static struct model_img m;
	FILE *f;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: ota-model-tool OUT.tfm [VARIANT]\n");
		return 2;
	}
	make_model(&m, argc == 3 ? (unsigned)strtoul(argv[2], NULL, 10) : 0, 0);
	if ((f = fopen(argv[1], "wb")) == NULL || fwrite(m.img, 1, m.len, f) != m.len ||
	    fclose(f) != 0) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}
