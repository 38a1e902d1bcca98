/* unik run: create an instance of an image and, unless -d, stay attached to its console until
 * the guest ends, then exit with the guest's exit status.  Ctrl-C stops the instance. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd/unik/cli.h"
#include "lib/cmdline.h"
#include "lib/devices.h"
#include "lib/guest_abi.h"

struct run_args {
	const char *image, *name, *mem, *args, *provider;
	struct strv env, guest, vols, popts, ports, networks, blocks;
	bool detach, rm, debug, no_cleanup, interactive, tty;
	char *image_word; /* IMAGE taken from the words, owned */
};

static const struct cli_help run_help = {
    "unik run [options] IMAGE [ARGS...]\n"
    "       unik run --instanceName NAME --imageName IMAGE [--env K=V]... [--instanceMemory MB]",
    "Creates an instance of IMAGE and boots it.  Words after IMAGE become the guest's\n"
    "arguments (argv[1] on, with IMAGE as argv[0]) in place of the image's default ones,\n"
    "and -e K=V adds to its environment.  --args gives the whole command line (argv[0]\n"
    "first) in the guest's shell-like syntax.  Options go before IMAGE.\n"
    "\n"
    "By default the console streams to the terminal until the guest ends, and unik\n"
    "exits with the guest's exit status (255 for a crash); Ctrl-C stops the instance and\n"
    "exits 130.  With -d it prints the instance's name and returns at once.\n"
    "-i sends what this process reads to the guest's stdin (its console's input) as\n"
    "well; -it puts the terminal in raw mode, so keys (Ctrl-C too) go to the guest as\n"
    "typed, and Ctrl-] detaches, leaving the instance running.  The terminal is\n"
    "restored however unik ends.  Input needs the qemu provider.\n"
    "\n"
    "Networking: an image that uses sockets gets one NIC on user-mode networking\n"
    "(10.0.2.15, reaching out through the host; no root needed).  -p HOSTPORT:GUESTPORT\n"
    "publishes a guest port on the host (all addresses unless HOSTIP: is given).\n"
    "--network NAME puts a NIC on a network made with `unik network create`, with an\n"
    "address from its subnet (or NAME:IP); give it once per NIC.  --network none: no NIC.\n"
    "NAME:dhcp gives the NIC no address: the guest leases one from the network's DHCP\n"
    "server (a network made with --dhcp), and ps shows it once leased.\n"
    "\n"
    "Storage: -v VOLUME:/path mounts a volume (`unik volume create`) at /path; it is\n"
    "checked with e2fsck first, and mounted read-write by one running instance at most.\n"
    "-v /host/dir:/path shares a directory of the daemon's host over virtio-9p.  Add :ro\n"
    "for read-only.  Mount points are chosen here, not when the image is built.\n"
    "\n"
    "Devices of a mirage application (docs/backends/mirage.md) are bound by the names its\n"
    "Unikfile declares: --net NAME=NETWORK (NETWORK user: user-mode networking) and\n"
    "--block NAME=VOLUME.  Every declared device must be bound.",
    "  unik run hello\n"
    "  unik run -it shell\n"
    "  echo 42 | unik run -i calc\n"
    "  unik run --name i1 -e GREETING=hi --mem 128 hello first 'second arg'\n"
    "  unik run -d --name web -p 8080:80 web && curl http://127.0.0.1:8080/\n"
    "  unik run -d --network backend --network frontend:10.88.1.5 web\n"
    "  unik run -d --network lan:dhcp web\n"
    "  unik run -v data:/var/data -v /srv/site:/www:ro web\n"
    "  unik run --net service=lan --block storage=kvdata kv\n"
    "  unik run --provider kvm --provider-opt uri=qemu:///system hello\n"
    "  unik run --instanceName i1 --imageName hello --env K=V\n",
};

#define RUN_NOPTS 17
static void run_opts(struct run_args *a, struct cli_opt o[RUN_NOPTS])
{
	const struct cli_opt opts[RUN_NOPTS] = {
	    {0, "name|instanceName", CLI_OPT_STR, &a->name, "NAME",
	     "the instance's name (default: IMAGE-xxxx)"},
	    {0, "image|imageName", CLI_OPT_STR, &a->image, "IMAGE",
	     "the image (or the first word)"},
	    {'e', "env", CLI_OPT_LIST, &a->env, "K=V", "guest environment variable (repeatable)"},
	    {'m', "mem|memory|instanceMemory", CLI_OPT_STR, &a->mem, "MB", "guest memory in MiB"},
	    {'d', "detach", CLI_OPT_BOOL, &a->detach, NULL, "print the name and return at once"},
	    {'i', "interactive", CLI_OPT_BOOL, &a->interactive, NULL,
	     "send this terminal's (or pipe's) input to the guest's stdin"},
	    {'t', "tty", CLI_OPT_BOOL, &a->tty, NULL,
	     "raw terminal: keys go to the guest as typed; Ctrl-] detaches (with -i)"},
	    {0, "args", CLI_OPT_STR, &a->args, "'ARGV0 ARG...'",
	     "the guest command line, shell-quoted words (ARGS... are appended)"},
	    {0, "provider", CLI_OPT_STR, &a->provider, "PROVIDER", "where to run (default qemu)"},
	    {0, "provider-opt", CLI_OPT_LIST, &a->popts, "KEY=VALUE",
	     "a provider option, e.g. uri=qemu:///system for kvm (repeatable)"},
	    {'p', "publish", CLI_OPT_LIST, &a->ports, "[HOSTIP:]HOSTPORT:GUESTPORT[/udp]",
	     "publish a guest port on the host (repeatable)"},
	    {0, "network|net", CLI_OPT_LIST, &a->networks, "NAME[:IP|:dhcp]",
	     "a NIC on this network; user for user-mode, none for no NIC (repeatable)"},
	    {0, "rm", CLI_OPT_BOOL, &a->rm, NULL, "delete the instance once it has ended"},
	    {0, "block", CLI_OPT_LIST, &a->blocks, "NAME=VOLUME",
	     "bind a mirage application's block device NAME to a volume (repeatable)"},
	    {'v', "volume|vol", CLI_OPT_LIST, &a->vols, "VOLUME:/PATH[:ro]",
	     "mount a volume, or a host directory (/dir:/path), in the guest (repeatable)"},
	    {0, "debug-mode", CLI_OPT_BOOL, &a->debug, NULL, "accepted for UniK; no effect"},
	    {0, "no-cleanup", CLI_OPT_BOOL, &a->no_cleanup, NULL, "accepted for UniK; no effect"},
	};

	memcpy(o, opts, sizeof(opts));
}

/* 0, 1 for help, -1 with err on a usage error. */
static int run_parse_args(struct cli *cli, int argc, char **argv, struct run_args *a,
                          struct unik_error *err)
{
	struct cli_opt opts[RUN_NOPTS];
	_cleanup_strv_ struct strv pos = {0};
	size_t first = 0;
	int r;

	run_opts(a, opts);
	r = cli_parse_args(cli, argc, argv, opts, RUN_NOPTS, CLI_STOP_AT_POSITIONAL, &pos, err);
	if (r != 0)
		return r;
	if (!a->image) {
		if (pos.n == 0) {
			unik_error_set(err, UNIK_E_INVALID,
			               "which image? (unik run IMAGE [ARGS...])");
			return -1;
		}
		a->image = a->image_word = xstrdup(pos.v[0]);
		first = 1;
	}
	for (size_t i = first; i < pos.n; i++)
		strv_push(&a->guest, pos.v[i]);
	for (size_t i = 0; i < a->ports.n; i++) {
		struct unik_port p;

		if (unik_port_parse(a->ports.v[i], &p, err) < 0) {
			unik_error_prefix(err, "-p");
			return -1;
		}
	}
	if (a->mem && cli_parse_mem(a->mem) < 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "--mem `%s`: want a size in MiB such as 64 or 64M", a->mem);
		return -1;
	}
	if (a->mem && cli_parse_mem(a->mem) < unik_guest_min_memory_mb()) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "--mem `%s`: too little for a unik guest, which needs at least %d MiB "
		    "(the kernel is loaded at 1 MiB); ask for more, e.g. --mem 64",
		    a->mem, unik_guest_min_memory_mb());
		return -1;
	}
	return 0;
}

static void run_args_free(struct run_args *a)
{
	strv_free(&a->env);
	strv_free(&a->guest);
	strv_free(&a->vols);
	strv_free(&a->popts);
	strv_free(&a->ports);
	strv_free(&a->networks);
	strv_free(&a->blocks);
	free(a->image_word);
}

/* The guest command line the daemon is sent (its "args" is a whole command line, argv[0]
 * included, in the guest grammar): --args as given, else the image's name as argv[0]; then the
 * words after IMAGE, each quoted.  NULL when there is neither, so the image's defaults apply. */
static char *run_guest_args(const struct run_args *a)
{
	_cleanup_strv_ struct strv words = {0};
	size_t len = 1;
	char *out, *w;

	if (a->args && *a->args)
		strv_push(&words, a->args);
	else if (a->guest.n)
		strv_push_take(&words, unik_cmdline_quote_word(a->image));
	for (size_t i = 0; i < a->guest.n; i++)
		strv_push_take(&words, unik_cmdline_quote_word(a->guest.v[i]));
	if (!words.n)
		return NULL;
	for (size_t i = 0; i < words.n; i++)
		len += strlen(words.v[i]) + 1;
	out = w = xmalloc(len);
	for (size_t i = 0; i < words.n; i++) {
		size_t n = strlen(words.v[i]);

		if (i)
			*w++ = ' ';
		memcpy(w, words.v[i], n);
		w += n;
	}
	*w = '\0';
	return out;
}

static json_t *run_body(struct cli *cli, const struct run_args *a)
{
	_cleanup_free_ char *args = run_guest_args(a);
	json_t *body = json_pack("{s:s}", "image", a->image);

	if (a->name)
		json_object_set_new(body, "name", json_string(a->name));
	if (args)
		json_object_set_new(body, "args", json_string(args));
	if (a->env.n) {
		json_t *env = cli_env_object(cli, &a->env);

		if (!env) {
			json_decref(body);
			return NULL;
		}
		json_object_set_new(body, "env", env);
	}
	if (a->mem)
		json_object_set_new(body, "memory_mb", json_integer(cli_parse_mem(a->mem)));
	if (a->provider)
		json_object_set_new(body, "provider", json_string(a->provider));
	if (a->ports.n)
		json_object_set_new(body, "ports", cli_strv_json(&a->ports));
	/* --net NAME=NETWORK binds a mirage application's net device (a network's name has no
	 * '='); --net NETWORK is a NIC as for any image. */
	{
		_cleanup_strv_ struct strv nets = {0}, binds = {0};

		for (size_t i = 0; i < a->networks.n; i++)
			if (strchr(a->networks.v[i], '='))
				strv_pushf(&binds, "net:%s", a->networks.v[i]);
			else
				strv_push(&nets, a->networks.v[i]);
		for (size_t i = 0; i < a->blocks.n; i++)
			strv_pushf(&binds, "blk:%s", a->blocks.v[i]);
		if (nets.n)
			json_object_set_new(body, "networks", cli_strv_json(&nets));
		if (binds.n)
			json_object_set_new(body, "bind", cli_strv_json(&binds));
	}
	if (a->vols.n)
		json_object_set_new(body, "volumes", cli_strv_json(&a->vols));
	if (a->popts.n) {
		json_t *po = cli_provider_opts(cli, &a->popts);

		if (!po) {
			json_decref(body);
			return NULL;
		}
		json_object_set_new(body, "provider_opts", po);
	}
	return body;
}

/* The exit status `unik run` ends with for an ended instance. */
static int exit_status_of(const json_t *inst, const char *name)
{
	const char *state = json_string_value(json_object_get(inst, "state"));
	const json_t *code = json_object_get(inst, "exit_code");
	const char *detail = json_string_value(json_object_get(inst, "detail"));

	if (state && !strcmp(state, "exited"))
		return json_is_integer(code) ? (int)(json_integer_value(code) & 255) : 0;
	if (state && !strcmp(state, "crashed")) {
		fprintf(stderr, "unik: instance %s crashed%s%s\n", name,
		        detail && *detail ? ": " : "", detail ? detail : "");
		return json_is_integer(code) && json_integer_value(code) >= 0
		           ? (int)(json_integer_value(code) & 255)
		           : 255;
	}
	if (state && !strcmp(state, "stopped")) {
		fprintf(stderr, "unik: instance %s was stopped\n", name);
		return 143;
	}
	fprintf(stderr, "unik: instance %s ended in state %s\n", name, state ? state : "(none)");
	return CLI_FAILED;
}

/* ---- input: -i and -t ---- */

struct input;
static struct input *attach_input; /* set while -i feeds the guest */

#define DETACH_KEY 0x1d /* Ctrl-] */

static struct termios saved_tty;
static bool tty_raw;

static void restore_tty(void)
{
	if (tty_raw) {
		tcsetattr(0, TCSADRAIN, &saved_tty);
		tty_raw = false;
	}
}

/* Raw input (no echo, no line editing, no signals from keys: the guest gets them), output
 * processed as before so the guest's "\n" still starts a line. */
static int raw_tty(void)
{
	struct termios raw;

	if (tcgetattr(0, &saved_tty) < 0)
		return -1;
	raw = saved_tty;
	cfmakeraw(&raw);
	raw.c_oflag = saved_tty.c_oflag;
	if (tcsetattr(0, TCSADRAIN, &raw) < 0)
		return -1;
	tty_raw = true;
	atexit(restore_tty);
	return 0;
}

struct input {
	struct cli sender; /* a client of its own: the stream holds the other */
	char *path;        /* POST /v1/instances/REF/stdin */
	bool tty;
	volatile bool stop, detached;
	pthread_t thread;
};

static bool send_input(struct input *in, const char *buf, size_t len)
{
	_cleanup_free_ char *text = xstrndup(buf, len);
	json_t *body = json_pack("{s:s%}", "data", buf, len);
	struct unik_error err = {0};
	int r;

	if (!body) /* not UTF-8: sent as far as it is text */
		body = json_pack("{s:s}", "data", text);
	r = body ? unik_client_json(in->sender.client, "POST", in->path, body, NULL, &err) : 0;
	json_decref(body);
	if (r < 0) {
		fprintf(stderr, "%sunik: input: %s\n", in->tty ? "\r" : "", err.msg);
		return false;
	}
	return true;
}

static void *input_main(void *arg)
{
	struct input *in = arg;
	char buf[4096];

	while (!in->stop) {
		struct pollfd p = {.fd = 0, .events = POLLIN};
		ssize_t n;
		char *key;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(0, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break; /* the end of the input: the guest keeps running */
		key = in->tty ? memchr(buf, DETACH_KEY, (size_t)n) : NULL;
		if (key) {
			if (key > buf)
				send_input(in, buf, (size_t)(key - buf));
			in->detached = true;
			/* Ends the console stream; attach() sees detached and leaves the VM be. */
			cli_interrupted = SIGINT;
			break;
		}
		if (in->tty) {
			/* The guest's console has no line discipline: do here what a terminal's
			 * would there, Enter as a newline (ICRNL) and echo of what was typed. */
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] == '\r')
					buf[i] = '\n';
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] == '\n')
					fputc('\n', stdout); /* the terminal's ONLCR is kept */
				else if ((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f)
					fputc(buf[i], stdout);
			fflush(stdout);
		}
		if (!send_input(in, buf, (size_t)n))
			break;
	}
	return NULL;
}

static int attach(struct cli *cli, const char *ref, const char *name, bool rm)
{
	_cleanup_free_ char *logs = cli_path("/v1/instances/%s/logs?follow=true", ref);
	_cleanup_free_ char *wait = cli_path("/v1/instances/%s/wait", ref);
	json_t *inst;
	int rc;

	if (cli_stream_to_stdout(cli, logs) < 0 && !cli_interrupted)
		return CLI_FAILED;
	if (cli_interrupted && attach_input && attach_input->detached) {
		restore_tty();
		fprintf(stderr,
		        "\nunik: detached from %s, which keeps running (unik logs -f %s; "
		        "unik stop %s)\n",
		        name, name, name);
		return CLI_OK;
	}
	if (cli_interrupted) {
		_cleanup_free_ char *stop = cli_path("/v1/instances/%s/stop", ref);
		json_t *j;

		/* Let the stop request itself through; a second Ctrl-C cuts it short. */
		cli_interrupted = 0;
		fprintf(stderr, "\nunik: stopping %s\n", name);
		j = cli_request(cli, "POST", stop, NULL);
		json_decref(j);
		return 130;
	}
	if (!(inst = cli_request(cli, "GET", wait, NULL)))
		return cli_interrupted ? 130 : CLI_FAILED;
	rc = exit_status_of(inst, name);
	json_decref(inst);
	if (rm) {
		_cleanup_free_ char *del = cli_path("/v1/instances/%s", ref);

		json_decref(cli_request(cli, "DELETE", del, NULL));
	}
	return rc;
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	struct run_args a = {0};
	struct unik_error err = {0};
	json_t *body = NULL, *inst = NULL;
	const char *name, *id;
	int r, rc;

	r = run_parse_args(cli, argc, argv, &a, &err);
	if (r == 1) {
		struct cli_opt opts[RUN_NOPTS];

		run_opts(&a, opts);
		cli_print_help(cli, opts, RUN_NOPTS, &run_help);
		rc = CLI_OK;
		goto out;
	}
	if (r < 0) {
		rc = cli_usage_error(cli, "%s", err.msg);
		goto out;
	}
	if (a.tty && !isatty(0)) {
		rc = cli_usage_error(cli,
		                     "-t: the input is not a terminal (use -i alone for a pipe)");
		goto out;
	}
	if ((a.interactive || a.tty) && a.detach) {
		rc = cli_usage_error(cli, "-i and -t attach to the guest: not with -d");
		goto out;
	}
	if (!(body = run_body(cli, &a))) {
		rc = CLI_USAGE;
		goto out;
	}
	cli_catch_signals();
	if (!(inst = cli_request(cli, "POST", "/v1/instances", body))) {
		rc = cli_interrupted ? 130 : CLI_FAILED;
		goto out;
	}
	name = json_string_value(json_object_get(inst, "name"));
	id = json_string_value(json_object_get(inst, "id"));
	if (!name)
		name = a.name ? a.name : "?";
	if (a.detach) {
		if (cli->json)
			cli_print_json(inst);
		else
			printf("%s\n", name);
		fflush(stdout);
		rc = CLI_OK;
		goto out;
	}
	if (a.interactive) {
		struct input *in = xcalloc(1, sizeof(*in));

		in->sender = *cli;
		in->sender.client = NULL;
		in->sender.no_autostart = true;
		in->path = cli_path("/v1/instances/%s/stdin", id ? id : name);
		in->tty = a.tty;
		if (!cli_client(&in->sender)) {
			free(in->path);
			free(in);
			rc = CLI_FAILED;
			goto out;
		}
		if (a.tty && raw_tty() < 0)
			fprintf(stderr, "unik: cannot put the terminal in raw mode: %s\n",
			        strerror(errno));
		attach_input = in;
		if (pthread_create(&in->thread, NULL, input_main, in) != 0) {
			restore_tty();
			fprintf(stderr, "unik: cannot start the input thread\n");
			attach_input = NULL;
		}
	} else if (a.tty && raw_tty() < 0) {
		fprintf(stderr, "unik: cannot put the terminal in raw mode: %s\n", strerror(errno));
	}
	rc = attach(cli, id ? id : name, name, a.rm);
	if (attach_input) {
		attach_input->stop = true;
		pthread_join(attach_input->thread, NULL);
		unik_client_free(attach_input->sender.client);
		free(attach_input->path);
		free(attach_input);
		attach_input = NULL;
	}
	restore_tty();
out:
	json_decref(body);
	json_decref(inst);
	run_args_free(&a);
	return rc;
}
