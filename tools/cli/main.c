/*
 * tinyfleet: the operator's tool. `tinyfleet help` is its manual (help.c).
 *
 * Offline commands (keygen, model pack/sign/verify) take their own options only; the rest
 * talk to a gateway and also take the connection options of opts.c, anywhere on the line.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int
main(int argc, char **argv)
{
	struct cli_opts o;
	const char *cmd, *sub;
	int rc;

	if (argc < 2)
		cli_usage(NULL);
	cmd = argv[1];
	sub = argc >= 3 ? argv[2] : "";
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		cli_help(argc >= 3 ? argv[2] : NULL);
		return 0;
	}
	if (strcmp(cmd, "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(cmd, "model") == 0 && strcmp(sub, "sign") == 0)
		return cmd_model_sign(argc - 3, argv + 3);
	if (strcmp(cmd, "model") == 0 && strcmp(sub, "verify") == 0)
		return cmd_model_verify(argc - 3, argv + 3);
	if (strcmp(cmd, "model") == 0 && strcmp(sub, "pack") == 0)
		return cmd_model_pack(argc - 3, argv + 3);

	if ((rc = cli_opts_take(&o, &argc, argv)) != 0)
		return rc;
	/* A broker that drops the link mid-write must give exit 3, not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		cli_usage(NULL);
	cmd = argv[1];
	sub = argc >= 3 ? argv[2] : "";
	if (strcmp(cmd, "model") == 0 && strcmp(sub, "publish") == 0)
		return cmd_model_publish(&o, argc - 3, argv + 3);
	if (strcmp(cmd, "models") == 0)
		return cmd_models(&o, argc - 2, argv + 2);
	if (strcmp(cmd, "devices") == 0)
		return cmd_devices(&o, argc - 2, argv + 2);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(&o, argc - 2, argv + 2);
	if (strcmp(cmd, "rollout") == 0)
		return cmd_rollout(&o, argc - 2, argv + 2);
	if (strcmp(cmd, "watch") == 0)
		return cmd_watch(&o, argc - 2, argv + 2);
	cli_err("unknown command '%s'", cmd);
	cli_usage(strcmp(cmd, "model") == 0 ? "model" : NULL);
}
