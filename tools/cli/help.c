/*
 * The manual: `tinyfleet help` prints it all, `tinyfleet help TOPIC` one part, and a usage
 * error prints the synopsis of the command at fault. docs/cli.md is the same text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *topic, *synopsis, *text;
} pages[] = {
	{ "keygen", "tinyfleet keygen DIR",
	  "    Creates a release signing key pair (ECDSA P-256): DIR/release.key.pem (private,\n"
	  "    mode 0600; keep it off the gateway) and DIR/release.pub.pem (list it in the\n"
	  "    gateway's release_keys and give it to devices). Never replaces an existing key.\n" },
	{ "model",
	  "tinyfleet model pack IN.npz OUT.tfm [--prune F] [--name N] [--version V] ...\n"
	  "tinyfleet model sign --key KEY.pem --seq N --class CLASS [--min-ram BYTES]\n"
	  "                     [--sensors a,b] [--abi N] [--expires EPOCH] CONTAINER OUT.cose\n"
	  "tinyfleet model verify --pub PUB.pem MANIFEST.cose [CONTAINER]\n"
	  "tinyfleet model publish CONTAINER MANIFEST.cose\n"
	  "tinyfleet model publish --release-key KEY.pem --seq N --class CLASS [--out OUT.cose]\n"
	  "                        [signing options] CONTAINER",
	  "    pack: writes a model container from float weights with the Python packer\n"
	  "    (tools/model/tfpack.py; Debian python3 with numpy). All its options pass through.\n"
	  "    Give the .npz self-test inputs (test_x): a device runs them before it confirms an\n"
	  "    update and refuses a container without them (container_invalid).\n"
	  "    sign: signs a COSE_Sign1 manifest for a container. Name, version, size, flash\n"
	  "    need and format come from the container, the digest is its SHA-256; the rest is\n"
	  "    what the release promises (--seq above every earlier release of the model and\n"
	  "    above the devices' factory image; --abi is the agent ABI as agents report it,\n"
	  "    major << 16 | minor, e.g. 65538 for 1.2; default 1).\n"
	  "    verify: checks a manifest's signature (and that a container matches it).\n"
	  "    publish: uploads a release to the gateway (model.publish). Without a manifest it\n"
	  "    signs the container first with --release-key (the key never leaves this host);\n"
	  "    --out keeps that manifest. Publishing the same version twice is harmless.\n" },
	{ "models", "tinyfleet models [NAME] [--class CLASS]\n"
	            "tinyfleet models NAME VERSION|latest",
	  "    Lists the published model versions (model.list), all or those of NAME, or\n"
	  "    shows one version in detail (model.get).\n" },
	{ "devices",
	  "tinyfleet devices [--class C] [--model M [--version V]] [--online|--offline]\n"
	  "                  [--drifting] [--tag T]... [--can-run MODEL@VERSION] [--limit N]\n"
	  "tinyfleet devices ID",
	  "    Lists devices (device.list; all filters must hold; every page is fetched up to\n"
	  "    --limit), or shows one device (device.get): slots, model, metrics, rollout.\n" },
	{ "status", "tinyfleet status",
	  "    The site at a glance (fleet.status): devices, models per version, rollouts.\n" },
	{ "rollout",
	  "tinyfleet rollout create DEFINITION.json|- [--id ID]\n"
	  "tinyfleet rollout create --model M --version V (--all | --class C,.. | --tags T,.. |\n"
	  "                         --devices D,..) [--id ID] [--canary N|P%] [--stages 5,25,100]\n"
	  "                         [--settle SECONDS] [--on-failure pause|rollback_wave|rollback_all]\n"
	  "tinyfleet rollout start|pause|resume|abort ID [--message TEXT]\n"
	  "tinyfleet rollout rollback ID [--scope wave|all] [--message TEXT]\n"
	  "tinyfleet rollout status ID [--devices] [--state S] [--wait]\n"
	  "tinyfleet rollout list [--state S] [--model M]",
	  "    create makes a draft from a definition (schema rollout-definition); nothing is\n"
	  "    sent until start. Waves: the canary (N devices or P%), then each stage brings\n"
	  "    the share of targeted devices up to its percent. Quality gates judge each wave;\n"
	  "    --on-failure says what a failed gate does. status shows totals, bytes sent\n"
	  "    (deltas vs full images), each wave with its gates, and with --devices every\n"
	  "    device; --wait follows the rollout, one progress line per change, until it\n"
	  "    ends or pauses. Repeating a command is harmless (\"no change\").\n" },
	{ "watch", "tinyfleet watch [--rollout ID] [--for SECONDS] [--count N]",
	  "    Prints the site's live events as they happen (device online/offline, update\n"
	  "    progress and results, drift alerts, rollout state changes) and a progress line\n"
	  "    whenever a rollout's retained status changes. Runs until Ctrl-C, --for seconds\n"
	  "    or --count events. With --json, one JSON line per message:\n"
	  "    {\"topic\": ..., \"retained\": ..., \"message\": ...}.\n" },
	{ "connect", "tinyfleet COMMAND --uri ssl://HOST:PORT --site SITE --ca CA.crt\n"
	             "                   --cert OP.crt --key OP.key [--timeout S] [--json]",
	  "    Every command that talks to a gateway connects to the site's broker (or a\n"
	  "    central broker bridged to it) with MQTT v5 and mutual TLS, as the operator whose\n"
	  "    certificate it presents; the certificate's CN is the operator identity, and\n"
	  "    the broker's ACL lets it publish only requests under that CN.\n"
	  "    Settings come from the flags, else the environment (TINYFLEET_URI,\n"
	  "    TINYFLEET_SITE, TINYFLEET_CA, TINYFLEET_CERT, TINYFLEET_KEY, TINYFLEET_TIMEOUT),\n"
	  "    else the config file ($TINYFLEET_CONFIG or ~/.config/tinyfleet/cli.conf, lines\n"
	  "    \"uri = ssl://broker:8883\", site, ca, cert, key, timeout). --timeout is the\n"
	  "    wait for each answer (default 10 s). --json prints the result documents of\n"
	  "    schemas/operator/ for scripts instead of tables.\n" },
};
#define NPAGES (sizeof(pages) / sizeof(pages[0]))

static const char exit_codes[] =
	"EXIT STATUS\n"
	"    0  done\n"
	"    1  usage: the command line is wrong (the synopsis is printed)\n"
	"    2  refused: the gateway answered with an error (its code, message and what to do\n"
	"       are printed; with --json the error document is on stdout), or a local check\n"
	"       failed (bad signature, container does not match)\n"
	"    3  connection: the broker cannot be reached or refused the TLS handshake (broker\n"
	"       down, wrong CA, a certificate not of the fleet CA, unreadable key)\n"
	"    4  timeout: connected, but no answer in time (the gateway is down, the site name\n"
	"       is wrong, or the broker's ACL dropped the request)\n"
	"    5  a local file could not be read or written\n";

void
cli_help(const char *topic)
{
	size_t i;
	int found = 0;

	if (topic == NULL)
		printf("NAME\n    tinyfleet - drive a tinyfleet gateway: releases, devices, rollouts\n\n"
		       "COMMANDS\n");
	for (i = 0; i < NPAGES; i++) {
		if (topic != NULL && strcmp(topic, pages[i].topic) != 0)
			continue;
		found = 1;
		printf("%s\n%s\n", pages[i].synopsis, pages[i].text);
	}
	if (topic != NULL && strcmp(topic, "exit") == 0)
		found = 1;
	if (topic == NULL || strcmp(topic, "exit") == 0)
		printf("%s", exit_codes);
	if (!found) {
		cli_err("no help on '%s'; topics: keygen model models devices status rollout watch "
		        "connect exit", topic);
		exit(CLI_EXIT_USAGE);
	}
}

_Noreturn void
cli_usage(const char *command)
{
	size_t i;
	fprintf(stderr, "usage:\n");
	for (i = 0; i < NPAGES; i++)
		if (command == NULL || strcmp(command, pages[i].topic) == 0)
			fprintf(stderr, "%s\n", pages[i].synopsis);
	fprintf(stderr, "(tinyfleet help%s%s for more)\n", command ? " " : "", command ? command : "");
	exit(CLI_EXIT_USAGE);
}
