/* The provider contract's door (tests/integration/test_provider_contract.py): drives any provider
 * of the registry, or the tests' fake, only through core/vm.h, the way the core does, one
 * process per call as a daemon and its restarts would make them:
 *   provider_contract [OPTIONS] caps
 *   provider_contract [OPTIONS] available
 *   provider_contract [OPTIONS] run DIR KERNEL CMDLINE MEM_MB [INITRD]
 *   provider_contract [OPTIONS] status DIR
 *   provider_contract [OPTIONS] stop DIR [--force] [--timeout MS]
 *   provider_contract [OPTIONS] start DIR
 *   provider_contract [OPTIONS] remove DIR
 *   provider_contract [OPTIONS] reconcile DIR
 *   provider_contract [OPTIONS] events DIR WAIT_MS
 * Options, before the verb: -p PROVIDER (a name in the registry, or "fake"; default qemu),
 * -o KEY=VALUE (a provider option, repeatable), -i ID and -n NAME (the instance's id and name),
 * -d KIND:NAME[:KEY=VALUE|ro]... (a device, repeatable; keys network, tap, path, format, mount,
 * mac) and -c CAPS (the fake's device kinds, "net,blk" or "none").
 * Prints key=value lines (state, exit_code, pid, detail, handle, ip, elapsed_us; `events` prints
 * event=yes|no|none first); on failure prints error=MESSAGE and code=NAME and exits 1; a usage
 * error exits 2. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/vm.h"
#include "lib/devices.h"
#include "tests/lib/fake_provider.h"

#define MAX_OPTS    64
#define MAX_DEVICES 16

static void print_status(const struct unik_instance_status *st)
{
	printf("state=%s\nexit_code=%d\npid=%d\ndetail=%s\nhandle=%s\nhandle_id=%s\nip=%s\n",
	       unik_instance_state_name(st->state), st->exit_code, (int)st->pid, st->detail,
	       st->handle, st->handle_id, st->ip);
}

static int failed(const struct unik_error *err)
{
	printf("error=%s\ncode=%s\n", err->msg, unik_error_code_name(err->code));
	return 1;
}

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "provider_contract: %s\n", why);
	fputs("usage: provider_contract [-p PROVIDER] [-o KEY=VALUE]... [-i ID] [-n NAME] "
	      "[-d KIND:NAME[:KEY=VALUE]...]... [-c CAPS] "
	      "caps | available | run DIR KERNEL CMDLINE MEM_MB [INITRD] | status DIR | "
	      "stop DIR [--force] [--timeout MS] | start DIR | remove DIR | reconcile DIR | "
	      "events DIR WAIT_MS\n",
	      stderr);
	return 2;
}

/* Published ports of the devices: at most this many per device. */
#define MAX_PORTS 8
static struct unik_port ports[MAX_DEVICES][MAX_PORTS];

/* "net:eth0:tap=t0:ro" into d; the strings point into spec, which the caller keeps.  Keys:
 * network, bridge, tap, ip, gw, dns, port (repeatable; "+" for the colons of a -p spec, so
 * port=127.0.0.1+8080+80/udp), path, format, mount, mac.  Returns false on a word it does not
 * know: what is checked here is only the syntax, the rest is left
 * to unik_devices_check, which the contract tests. */
static bool parse_device(char *spec, struct unik_device *d, struct unik_port *dports)
{
	char *save = NULL, *kind = strtok_r(spec, ":", &save), *w;
	int k = kind ? unik_device_kind_parse(kind) : -1;

	memset(d, 0, sizeof(*d));
	if (k < 0)
		return false;
	d->kind = (enum unik_device_kind)k;
	d->name = strtok_r(NULL, ":", &save);
	if (!d->name)
		return false;
	/* The MAC has colons of its own: it comes last and takes the rest. */
	while ((w = strtok_r(NULL, ":", &save))) {
		char *eq = strchr(w, '=');

		if (!strcmp(w, "ro")) {
			d->readonly = true;
			continue;
		}
		if (!eq)
			return false;
		*eq++ = '\0';
		if (!strcmp(w, "network"))
			d->network = eq;
		else if (!strcmp(w, "tap"))
			d->tap = eq;
		else if (!strcmp(w, "bridge"))
			d->bridge = eq;
		else if (!strcmp(w, "ip"))
			d->ip = eq;
		else if (!strcmp(w, "gw"))
			d->gateway = eq;
		else if (!strcmp(w, "dns"))
			d->dns = eq;
		else if (!strcmp(w, "port")) {
			struct unik_error err = {0};

			for (char *c = eq; *c; c++)
				if (*c == '+')
					*c = ':';
			if (d->nports == MAX_PORTS ||
			    unik_port_parse(eq, &dports[d->nports], &err) < 0)
				return false;
			d->ports = dports;
			d->nports++;
		} else if (!strcmp(w, "path"))
			d->path = eq;
		else if (!strcmp(w, "format"))
			d->format = eq;
		else if (!strcmp(w, "mount"))
			d->mount = eq;
		else if (!strcmp(w, "mac")) {
			snprintf(d->mac, sizeof(d->mac), "%s%s%s", eq, *save ? ":" : "", save);
			break;
		} else
			return false;
	}
	return true;
}

static int parse_caps(const char *text, unsigned *caps)
{
	_cleanup_free_ char *copy = xstrdup(text);
	char *save = NULL;

	*caps = 0;
	if (!strcmp(text, "none"))
		return 0;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int k = unik_device_kind_parse(w);

		if (k <= UNIK_DEVICE_CONSOLE)
			return -1;
		*caps |= UNIK_DEVICE_BIT(k);
	}
	return 0;
}

/* Option keys the provider does not know are refused, as the daemon refuses them. */
static int check_opts(const struct unik_provider *p, const char *const *opts,
                      struct unik_error *err)
{
	for (size_t i = 0; opts[i]; i++) {
		size_t kl = strcspn(opts[i], "=");
		bool known = false;

		for (size_t j = 0; p->opt_keys && p->opt_keys[j]; j++)
			if (strlen(p->opt_keys[j]) == kl && !strncmp(p->opt_keys[j], opts[i], kl))
				known = true;
		if (!known || !opts[i][kl]) {
			unik_error_set(err, UNIK_E_INVALID, "provider %s has no option \"%.*s\"",
			               p->name, (int)kl, opts[i]);
			return -1;
		}
	}
	return 0;
}

/* Waits up to wait_ms for the provider's event descriptor for dir. */
static const char *wait_event(struct unik_vm *vm, const char *dir, int wait_ms)
{
	_cleanup_close_ int fd = unik_vm_event_fd(vm, dir);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (fd < 0)
		return "none";
	return poll(&pfd, 1, wait_ms) > 0 ? "yes" : "no";
}

static int run_verb(struct unik_vm *vm, const char *verb, int argc, char **argv,
                    struct unik_run_spec *spec)
{
	struct unik_instance_status st = {0};
	struct unik_error err = {0};
	long long t0 = unik_now_us();
	int rc;

	if (!strcmp(verb, "caps") && argc == 0) {
		char caps[64];

		unik_device_caps_string(vm->p->caps, caps, sizeof(caps));
		printf("provider=%s\ncaps=%s\nstart=%s\nreconcile=%s\nevents=%s\n", vm->p->name,
		       vm->p->caps ? caps : "", vm->p->start ? "yes" : "no",
		       vm->p->reconcile ? "yes" : "no", vm->p->event_fd ? "yes" : "no");
		return 0;
	}
	if (!strcmp(verb, "available") && argc == 0) {
		char reason[512] = "";
		bool ok = vm->p->available(spec->opts, reason, sizeof(reason));

		printf("available=%s\nreason=%s\n", ok ? "yes" : "no", reason);
		return ok ? 0 : 1;
	}
	if (!strcmp(verb, "run") && (argc == 4 || argc == 5)) {
		spec->instance_dir = argv[0];
		spec->kernel = spec->image = argv[1];
		spec->cmdline = spec->disk_cmdline = argv[2];
		spec->memory_mb = strtoull(argv[3], NULL, 10);
		spec->initrd = argc == 5 ? argv[4] : NULL;
		rc = unik_vm_run(vm, spec, &st, &err);
	} else if (!strcmp(verb, "status") && argc == 1) {
		rc = unik_vm_status(vm, argv[0], &st, &err);
	} else if (!strcmp(verb, "reconcile") && argc == 1) {
		rc = unik_vm_reconcile(vm, argv[0], &st, &err);
	} else if (!strcmp(verb, "start") && argc == 1) {
		rc = unik_vm_start(vm, argv[0], &st, &err);
	} else if (!strcmp(verb, "events") && argc == 2) {
		printf("event=%s\n", wait_event(vm, argv[0], atoi(argv[1])));
		rc = unik_vm_status(vm, argv[0], &st, &err);
	} else if (!strcmp(verb, "stop") && argc >= 1) {
		bool force = false;
		int timeout_ms = 5000;

		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "--force"))
				force = true;
			else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
				timeout_ms = atoi(argv[++i]);
			else
				return usage("stop: unknown argument");
		}
		if (unik_vm_stop(vm, argv[0], force, timeout_ms, &err) < 0)
			return failed(&err);
		printf("stopped=yes\nelapsed_us=%lld\n", unik_now_us() - t0);
		return 0;
	} else if (!strcmp(verb, "remove") && argc == 1) {
		if (unik_vm_remove(vm, argv[0], &err) < 0)
			return failed(&err);
		printf("removed=yes\nelapsed_us=%lld\n", unik_now_us() - t0);
		return 0;
	} else {
		return usage(NULL);
	}
	if (rc < 0)
		return failed(&err);
	print_status(&st);
	printf("elapsed_us=%lld\n", unik_now_us() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	const char *name = unik_provider_default();
	const char *opts[MAX_OPTS + 1] = {NULL};
	struct unik_device devs[MAX_DEVICES];
	struct unik_run_spec spec = {
	    .instance_id = "0123456789ab",
	    .instance_name = "contract",
	    .image_id = "ba9876543210",
	    .disk_format = "raw",
	    .opts = opts,
	    .devices = devs,
	};
	struct unik_error err = {0};
	struct unik_vm vm = {0};
	size_t nopts = 0;
	int opt, rc;

	while ((opt = getopt(argc, argv, "+p:o:i:n:d:c:")) != -1) {
		switch (opt) {
		case 'p':
			name = optarg;
			break;
		case 'o':
			if (nopts == MAX_OPTS)
				return usage("too many -o");
			opts[nopts++] = optarg;
			break;
		case 'i':
			spec.instance_id = optarg;
			break;
		case 'n':
			spec.instance_name = optarg;
			break;
		case 'd':
			if (spec.ndevices == MAX_DEVICES)
				return usage("too many -d");
			if (!parse_device(optarg, &devs[spec.ndevices], ports[spec.ndevices]))
				return usage(
				    "-d: want KIND:NAME[:KEY=VALUE|ro]..., KIND net, blk or fs, "
				    "KEY network, bridge, tap, ip, gw, dns, port, path, format, "
				    "mount or mac");
			spec.ndevices++;
			break;
		case 'c': {
			unsigned caps;

			if (parse_caps(optarg, &caps) < 0)
				return usage("-c: want kinds such as \"net,blk\", or \"none\"");
			unik_fake_set_caps(caps);
			break;
		}
		default:
			return usage(NULL);
		}
	}
	if (optind >= argc)
		return usage(NULL);
	if (!strcmp(name, unik_provider_fake.name)) {
		if (check_opts(&unik_provider_fake, opts, &err) < 0 ||
		    unik_vm_open(&vm, &unik_provider_fake, opts, &err) < 0)
			return failed(&err);
	} else {
		const struct unik_provider *p = unik_provider_find(name);

		if (p && check_opts(p, opts, &err) < 0)
			return failed(&err);
		if (unik_vm_open_name(&vm, name, opts, &err) < 0)
			return failed(&err);
	}
	rc = run_verb(&vm, argv[optind], argc - optind - 1, argv + optind + 1, &spec);
	unik_vm_close(&vm);
	return rc;
}
