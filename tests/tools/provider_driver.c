/* A command-line door onto the provider interface, so Python tests can drive a provider the way
 * the daemon does, from separate processes:
 *   provider_driver [-p PROVIDER] run DIR KERNEL CMDLINE MEM_MB [INITRD]
 *   provider_driver [-p PROVIDER] status DIR
 *   provider_driver [-p PROVIDER] stop DIR [--force] [--timeout MS]
 *   provider_driver [-p PROVIDER] remove DIR
 *   provider_driver [-p PROVIDER] start DIR
 *   provider_driver [-p PROVIDER] available
 * Global options, before the verb: -o KEY=VALUE (a provider option, repeatable), -i ID (the
 * instance id, default 0123456789ab), -n NAME (the instance name, default "driver") and
 * -D DISK (the image's bootable disk, raw or qcow2 by its name's extension) and -C CMDLINE (the
 * command line baked into DISK, default the run's), -d KIND:NAME[:OPT]... (a device, repeatable;
 * OPT is ro, or tap=, network=, path=, format=, at= or mac= with a value).  run goes through the
 * core (core/vm.c), which checks the devices against the provider's caps and puts their manifest
 * words in front of CMDLINE.
 * Prints key=value lines (state, exit_code, pid, detail, elapsed_us); on failure prints
 * error=MESSAGE and code=NAME and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/vm.h"
#include "providers/provider.h"

/* Parses -d KIND:NAME[:OPT]... into d; the strings point into spec, which it cuts up. */
static int parse_device(char *spec, struct unik_device *d)
{
	char *save = NULL, *kind = strtok_r(spec, ":", &save), *name = strtok_r(NULL, ":", &save);
	int k = kind ? unik_device_kind_parse(kind) : -1;

	if (k < 0 || !name) {
		fprintf(stderr, "provider_driver: -d wants KIND:NAME[:OPT]..., KIND one of "
		                "net, blk, fs\n");
		return -1;
	}
	memset(d, 0, sizeof(*d));
	d->kind = (enum unik_device_kind)k;
	d->name = name;
	for (char *o = strtok_r(NULL, ":", &save); o; o = strtok_r(NULL, ":", &save)) {
		char *eq = strchr(o, '=');

		if (!strcmp(o, "ro")) {
			d->readonly = true;
			continue;
		}
		if (!eq) {
			fprintf(stderr, "provider_driver: device option `%s` is not KEY=VALUE\n",
			        o);
			return -1;
		}
		*eq++ = '\0';
		if (!strcmp(o, "tap"))
			d->tap = eq;
		else if (!strcmp(o, "network"))
			d->network = eq;
		else if (!strcmp(o, "path"))
			d->path = eq;
		else if (!strcmp(o, "format"))
			d->format = eq;
		else if (!strcmp(o, "at"))
			d->mount = eq;
		else if (!strcmp(o, "mac"))
			snprintf(d->mac, sizeof(d->mac), "%s", eq);
		else {
			fprintf(stderr, "provider_driver: unknown device option `%s`\n", o);
			return -1;
		}
	}
	return 0;
}

static void print_status(const struct unik_instance_status *st)
{
	printf("state=%s\nexit_code=%d\npid=%d\ndetail=%s\nhandle=%s\nhandle_id=%s\n",
	       unik_instance_state_name(st->state), st->exit_code, (int)st->pid, st->detail,
	       st->handle, st->handle_id);
}

static int failed(const struct unik_error *err)
{
	printf("error=%s\ncode=%s\n", err->msg, unik_error_code_name(err->code));
	return 1;
}

static int usage(void)
{
	fputs("usage: provider_driver [-p PROVIDER] [-o KEY=VALUE]... [-i ID] [-n NAME] "
	      "[-d KIND:NAME[:OPT]...]... run DIR KERNEL CMDLINE MEM_MB [INITRD] | status DIR | "
	      "stop DIR [--force] [--timeout MS] | start DIR | remove DIR | available\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	const struct unik_provider *p;
	const char *name = unik_provider_default();
	struct unik_instance_status st;
	struct unik_error err = {0};
	const char *opts[64] = {NULL};
	const char *id = "0123456789ab", *iname = "driver", *disk = NULL;
	const char *disk_cmdline = NULL;
	struct unik_device devs[17]; /* one more than UNIK_DEV_MAX, to see it refused */
	size_t nopts = 0, ndevs = 0;
	long long t0;
	int i = 1, rc;

	for (; i + 1 < argc && argv[i][0] == '-' && argv[i][1] && !argv[i][2]; i += 2) {
		if (argv[i][1] == 'p')
			name = argv[i + 1];
		else if (argv[i][1] == 'i')
			id = argv[i + 1];
		else if (argv[i][1] == 'n')
			iname = argv[i + 1];
		else if (argv[i][1] == 'D')
			disk = argv[i + 1];
		else if (argv[i][1] == 'C')
			disk_cmdline = argv[i + 1];
		else if (argv[i][1] == 'o' && nopts + 1 < sizeof(opts) / sizeof(opts[0]))
			opts[nopts++] = argv[i + 1];
		else if (argv[i][1] == 'd' && ndevs < sizeof(devs) / sizeof(devs[0])) {
			if (parse_device(argv[i + 1], &devs[ndevs++]) < 0)
				return 2;
		} else
			return usage();
	}
	p = unik_provider_find(name);
	if (!p) {
		fprintf(stderr, "provider_driver: no provider `%s`\n", name);
		return 2;
	}
	if (i >= argc)
		return usage();
	const char *verb = argv[i++];

	if (!strcmp(verb, "available") && i == argc) {
		char reason[512] = "";
		bool ok = p->available(opts, reason, sizeof(reason));

		printf("available=%s\nreason=%s\nimage_format=%s\n", ok ? "yes" : "no", reason,
		       p->image_format);
		return ok ? 0 : 1;
	}
	if (!strcmp(verb, "run") && (argc - i == 4 || argc - i == 5)) {
		struct unik_run_spec spec = {
		    .instance_id = id,
		    .instance_name = iname,
		    .image = argv[i + 1],
		    .image_id = "ba9876543210",
		    .opts = opts,
		    .disk = disk,
		    .disk_format = disk && strstr(disk, ".qcow2") ? "qcow2" : "raw",
		    .disk_cmdline = disk_cmdline ? disk_cmdline : argv[i + 2],
		    .instance_dir = argv[i],
		    .kernel = argv[i + 1],
		    .cmdline = argv[i + 2],
		    .memory_mb = strtoull(argv[i + 3], NULL, 10),
		    .initrd = argc - i == 5 ? argv[i + 4] : NULL,
		    .devices = devs,
		    .ndevices = ndevs,
		};
		struct unik_vm vm;

		if (unik_vm_open(&vm, p, opts, &err) < 0)
			return failed(&err);
		t0 = unik_now_us();
		rc = unik_vm_run(&vm, &spec, &st, &err);
		long long dt = unik_now_us() - t0;
		unik_vm_close(&vm);

		if (rc < 0)
			return failed(&err);
		print_status(&st);
		printf("elapsed_us=%lld\n", dt);
		return 0;
	}
	if (!strcmp(verb, "status") && argc - i == 1) {
		t0 = unik_now_us();
		rc = p->status(NULL, argv[i], &st, &err);
		long long dt = unik_now_us() - t0;

		if (rc < 0)
			return failed(&err);
		print_status(&st);
		printf("elapsed_us=%lld\n", dt);
		return 0;
	}
	if (!strcmp(verb, "stop") && argc - i >= 1) {
		const char *dir = argv[i++];
		bool force = false;
		int timeout_ms = 5000;

		for (; i < argc; i++) {
			if (!strcmp(argv[i], "--force"))
				force = true;
			else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
				timeout_ms = atoi(argv[++i]);
			else
				return usage();
		}
		t0 = unik_now_us();
		rc = p->stop(NULL, dir, force, timeout_ms, &err);
		long long dt = unik_now_us() - t0;

		if (rc < 0)
			return failed(&err);
		printf("stopped=yes\nelapsed_us=%lld\n", dt);
		return 0;
	}
	if (!strcmp(verb, "start") && argc - i == 1) {
		if (!p->start) {
			fprintf(stderr, "provider_driver: provider `%s` has no start\n", name);
			return 2;
		}
		t0 = unik_now_us();
		rc = p->start(NULL, argv[i], &st, &err);
		long long dt = unik_now_us() - t0;

		if (rc < 0)
			return failed(&err);
		print_status(&st);
		printf("elapsed_us=%lld\n", dt);
		return 0;
	}
	if (!strcmp(verb, "remove") && argc - i == 1) {
		if (p->remove(NULL, argv[i], &err) < 0)
			return failed(&err);
		printf("removed=yes\n");
		return 0;
	}
	return usage();
}
