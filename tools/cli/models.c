/*
 * Model catalog commands: model publish (model.publish) and models (model.list, model.get).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/manifest.h"

#include "cli.h"

/* Standard base64 with padding, no line breaks (schemas/README.md "Formats"). */
static char *
base64(const uint8_t *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (out == NULL) {
		cli_err("out of memory");
		exit(CLI_EXIT_IO);
	}
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static void
print_model(const json_t *m)
{
	char b[32];
	printf("model      %s %s (sequence %.0f)\n", cli_str(m, "name"), cli_str(m, "version"),
	       cli_num(m, "sequence", 0));
	printf("class      %s; needs RAM %.0f B, flash %.0f B, agent ABI %.0f\n",
	       cli_str(m, "class"), cli_num(m, "requirements.min_ram", 0),
	       cli_num(m, "requirements.min_flash", 0), cli_num(m, "requirements.agent_abi", 0));
	printf("image      %s, sha256 %s\n", cli_bytes(cli_num(m, "size", 0), b, sizeof(b)),
	       cli_str(m, "digest"));
	printf("signed by  key %s%s%s\n", cli_str(m, "key_id"),
	       json_is_string(json_object_get(m, "expires_at")) ? ", expires " : "",
	       cli_str(m, "expires_at"));
	printf("published  %s by %s\n", cli_str(m, "published_at"), cli_str(m, "published_by"));
	if (json_object_get(m, "devices") != NULL)
		printf("devices    %.0f installed, %.0f can run it\n",
		       cli_num(m, "devices.installed", 0), cli_num(m, "devices.can_run", 0));
}

int
cmd_model_publish(const struct cli_opts *o, int argc, char **argv)
{
	struct cli_sign_params p;
	struct cli_mqtt m;
	uint8_t *img, *man, signed_man[TFP_MANIFEST_PAYLOAD_MAX + TFP_COSE_SIGN1_OVERHEAD];
	size_t imglen, manlen = 0;
	const char *out = NULL;
	json_t *req, *res = NULL;
	int i, rc;

	memset(&p, 0, sizeof(p));
	for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (i + 1 >= argc)
			cli_usage("model");
		if (strcmp(argv[i], "--out") == 0)
			out = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0 || !cli_sign_option(&p, argv[i], argv[i + 1]))
			cli_usage("model");
	}
	if (argc - i < 1 || argc - i > 2)
		cli_usage("model");
	img = cli_slurp(argv[i], &imglen);
	if (argc - i == 2) {
		man = cli_slurp(argv[i + 1], &manlen);
	} else {
		/* No manifest: sign here (the release key never leaves this machine). */
		if (p.key == NULL || !p.have_seq || p.device_class == NULL) {
			cli_err("no manifest given: pass MANIFEST.cose, or --release-key, --seq and "
			        "--class to sign the container now");
			free(img);
			return CLI_EXIT_USAGE;
		}
		if ((rc = cli_sign(&p, img, imglen, signed_man, sizeof(signed_man), &manlen,
		                   o->json)) != 0) {
			free(img);
			return rc;
		}
		if (out != NULL)
			cli_spill(out, signed_man, manlen, 0644);
		man = malloc(manlen);
		if (man == NULL)
			exit(CLI_EXIT_IO);
		memcpy(man, signed_man, manlen);
	}
	{
		char *bm = base64(man, manlen), *bc = base64(img, imglen);
		req = json_pack("{s:s,s:s}", "manifest", bm, "container", bc);
		free(bm);
		free(bc);
	}
	free(img);
	free(man);
	if ((rc = cli_mqtt_connect(&m, o)) == 0)
		rc = cli_request(&m, "model.publish", req, &res);
	json_decref(req);
	cli_mqtt_close(&m);
	if (rc != 0)
		return rc;
	if (o->json) {
		cli_print_json(res);
	} else {
		const json_t *mod = json_object_get(res, "model");
		printf("%s %s %s on site %s\n", cli_str(mod, "name"), cli_str(mod, "version"),
		       cli_bool(res, "created") ? "published" : "was already published (same digest)",
		       o->site);
		print_model(mod);
	}
	json_decref(res);
	return 0;
}

int
cmd_models(const struct cli_opts *o, int argc, char **argv)
{
	struct cli_mqtt m;
	struct cli_table t;
	json_t *req = json_object(), *res = NULL, *all = json_array();
	const char *op = "model.list";
	int i, rc;

	for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (i + 1 >= argc)
			cli_usage("models");
		if (strcmp(argv[i], "--name") == 0)
			json_object_set_new(req, "name", json_string(argv[i + 1]));
		else if (strcmp(argv[i], "--class") == 0)
			json_object_set_new(req, "class", json_string(argv[i + 1]));
		else
			cli_usage("models");
	}
	if (argc - i > 2)
		cli_usage("models");
	if (argc - i == 1) /* models NAME: its versions */
		json_object_set_new(req, "name", json_string(argv[i]));
	if (argc - i == 2) { /* models NAME VERSION|latest: one version in detail */
		op = "model.get";
		json_object_clear(req);
		json_object_set_new(req, "name", json_string(argv[i]));
		if (strcmp(argv[i + 1], "latest") != 0)
			json_object_set_new(req, "version", json_string(argv[i + 1]));
	}
	if ((rc = cli_mqtt_connect(&m, o)) != 0)
		goto out;
	if (strcmp(op, "model.get") == 0)
		rc = cli_request(&m, op, req, &res);
	else
		rc = cli_request_pages(&m, op, req, SIZE_MAX, all, &res);
	cli_mqtt_close(&m);
	if (rc != 0)
		goto out;
	if (strcmp(op, "model.get") == 0) {
		if (o->json)
			cli_print_json(res);
		else
			print_model(res);
		goto out;
	}
	if (o->json) {
		cli_print_json(all);
		goto out;
	}
	cli_table_init(&t, 8, "NAME", "VERSION", "SEQ", "CLASS", "SIZE", "INSTALLED", "KEY",
	               "PUBLISHED");
	for (size_t k = 0; k < json_array_size(all); k++) {
		const json_t *mod = json_array_get(all, k);
		char b[32];
		cli_table_row(&t, cli_str(mod, "name"), cli_str(mod, "version"),
		              cli_int(mod, "sequence"), cli_str(mod, "class"),
		              cli_bytes(cli_num(mod, "size", 0), b, sizeof(b)),
		              cli_int(mod, "devices.installed"), cli_str(mod, "key_id"),
		              cli_str(mod, "published_at"));
	}
	cli_table_print(&t);
	if (json_array_size(all) == 0)
		printf("(no model published on site %s: `tinyfleet model publish`)\n", o->site);
out:
	json_decref(req);
	json_decref(res);
	json_decref(all);
	return rc;
}
