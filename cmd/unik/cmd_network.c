/* unik network create|ls|rm|inspect, and `unik networks`: networks are Linux bridges on the
 * daemon's host, each with a subnet from which instances' NICs get their addresses. */
#include <stdio.h>
#include <string.h>

#include "cmd/unik/cli.h"

static const struct cli_column network_cols[] = {
    {"NAME", "name", NULL},
    {"ID", "id", NULL},
    {"SUBNET", "subnet", NULL},
    {"GATEWAY", "gateway", NULL},
    {"BRIDGE", "bridge", NULL},
    {"DHCP", "dhcp", NULL},
    {"CREATED", "created", cli_fmt_age},
};
#define NETWORK_NCOLS (sizeof(network_cols) / sizeof(network_cols[0]))

static const struct cli_help networks_help = {
    "unik networks [options]\n       unik network ls [options]",
    "Lists networks: name, id, subnet, gateway (the bridge's own address), the Linux\n"
    "bridge on the daemon's host, and whether it runs a DHCP server (--dhcp).",
    "  unik networks\n"
    "  unik network ls -o json\n",
};

int cmd_networks(struct cli *cli, int argc, char **argv)
{
	return cli_list_verb(cli, argc, argv, &networks_help, "/v1/networks", network_cols,
	                     NETWORK_NCOLS);
}

static int network_create(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik network create [options] NAME",
	    "Makes a network: a Linux bridge on the daemon's host (ukbr-<id>) holding the\n"
	    "subnet's first address as the gateway.  `unik run --network NAME` puts an\n"
	    "instance's NIC on it with the next free address.  Without --subnet, the first\n"
	    "10.88.N.0/24 that overlaps no other network and no address of the host.  The daemon\n"
	    "needs root (CAP_NET_ADMIN) for bridges.  No DHCP server is started unless --dhcp\n"
	    "is given: unik gives each NIC its address on the guest's command line.\n"
	    "\n"
	    "--dhcp also runs dnsmasq (Debian's dnsmasq-base; $UNIK_DNSMASQ names another) on\n"
	    "the bridge, DHCP only, leasing the upper half of the subnet (10.88.N.128 to .254\n"
	    "for a /24) with the gateway as router; unik's own addresses then come from the\n"
	    "lower half only.  `unik run --network NAME:dhcp` gives a NIC a lease from it.\n"
	    "It stops with `network rm` and comes back when the daemon starts.",
	    "  unik network create backend\n"
	    "  unik network create --subnet 10.90.0.0/24 frontend\n"
	    "  unik network create --dhcp lan\n",
	};
	const char *subnet = NULL, *name = NULL;
	bool dhcp = false;
	const struct cli_opt opts[] = {
	    {0, "subnet", CLI_OPT_STR, &subnet, "CIDR", "the subnet, e.g. 10.90.0.0/24"},
	    {0, "dhcp", CLI_OPT_BOOL, &dhcp, NULL,
	     "run a DHCP server (dnsmasq) on the upper half of the subnet"},
	    {0, "name", CLI_OPT_STR, &name, "NAME", "the network's name (or the word)"},
	};
	_cleanup_strv_ struct strv pos = {0};
	json_t *body, *j;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 3, 0, &help, &pos, &rc))
		return rc;
	if ((rc = cli_one_name(cli, &pos, &name, "unik network create NAME")))
		return rc;
	body = json_pack("{s:s}", "name", name);
	if (subnet)
		json_object_set_new(body, "subnet", json_string(subnet));
	if (dhcp)
		json_object_set_new(body, "dhcp", json_true());
	j = cli_request(cli, "POST", "/v1/networks", body);
	json_decref(body);
	if (!j)
		return CLI_FAILED;
	if (cli->json)
		cli_print_json(j);
	else
		printf("%s\n", json_string_value(json_object_get(j, "name")));
	json_decref(j);
	return CLI_OK;
}

static int network_rm(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik network rm [options] NETWORK...",
	    "Removes networks and their bridges.  A network that an instance still uses is\n"
	    "refused: remove the instance first.  Prints the name of each network removed.",
	    "  unik network rm backend\n",
	};
	_cleanup_strv_ struct strv refs = {0};
	int rc;

	if (cli_parse(cli, argc, argv, NULL, 0, 0, &help, &refs, &rc))
		return rc;
	if (!refs.n)
		return cli_usage_error(cli, "which network? (unik network rm NETWORK...)");
	return cli_each_ref(cli, &refs, "DELETE", "/v1/networks/%s", "");
}

static int network_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik network inspect [options] NETWORK",
	    "Shows one network.  NETWORK is a name, an id or a unique prefix of either.",
	    "  unik network inspect backend -o json\n",
	};
	return cli_describe_verb(cli, argc, argv, &help, "network", "network", "/v1/networks");
}

static const struct cli_subverb subverbs[] = {
    {"create", NULL, network_create, "make a network (a bridge with a subnet)"},
    {"ls", "list", cmd_networks, "list networks"},
    {"inspect", NULL, network_inspect, "show one network"},
    {"rm", "remove", network_rm, "remove networks"},
    {NULL, NULL, NULL, NULL},
};

int cmd_network(struct cli *cli, int argc, char **argv)
{
	return cli_subverb(
	    cli, argc, argv, "network",
	    "Manages networks (Linux bridges with a subnet) that instances join with\n"
	    "`unik run --network NAME`.",
	    subverbs);
}
