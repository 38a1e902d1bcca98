/* The QEMU command line of a qemu-provider instance: microvm (or pc / q35), PVH direct boot,
 * console on stdio, isa-debug-exit for the guest's exit status, QMP on a socket it is handed,
 * the instance's devices over virtio, seccomp sandbox.  Pinned by golden files. */
#include "providers/qemu/qemu.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

const char *qemu_pick_accel(const struct unik_vmm_user *u)
{
	const char *env = getenv("UNIK_ACCEL");

	if (env && !strcmp(env, "tcg"))
		return "tcg";
	return unik_vmm_can_open_kvm(u) ? "kvm" : "tcg";
}

/* QEMU's option syntax (key=value,key=value) takes a literal comma as ",,". */
static char *opt_escape(const char *s)
{
	size_t n = 0;
	char *out, *p;

	for (const char *q = s; *q; q++)
		n += *q == ',' ? 2 : 1;
	out = xmalloc(n + 1);
	p = out;
	for (const char *q = s; *q; q++) {
		*p++ = *q;
		if (*q == ',')
			*p++ = ',';
	}
	*p = '\0';
	return out;
}

/* s followed by the formatted text; frees s. */
static char *append(char *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *append(char *s, const char *fmt, ...)
{
	_cleanup_free_ char *more = NULL;
	va_list ap;
	char *r;

	va_start(ap, fmt);
	if (vasprintf(&more, fmt, ap) < 0)
		abort();
	va_end(ap);
	r = xasprintf("%s%s", s, more);
	free(s);
	return r;
}

char *qemu_qmp_path(const char *dir)
{
	struct sockaddr_un sun;
	char *qmp = unik_path_join(dir, QEMU_QMP_FILE);

	/* sun_path holds 107 characters: a deep $UNIK_HOME would not fit, so then the name is
	 * relative to the instance directory (unik-shim binds it from there). */
	if (strlen(qmp) >= sizeof(sun.sun_path)) {
		free(qmp);
		qmp = xstrdup(QEMU_QMP_FILE);
	}
	return qmp;
}

/* The address of a NIC's "IP/PREFIX", without the prefix, into buf; false when it has none. */
static bool nic_addr(const struct unik_device *d, char *buf, size_t len)
{
	struct unik_cidr ip;
	struct unik_error err;

	if (!d->ip || !d->ip[0] || unik_cidr_parse(d->ip, true, &ip, &err) < 0)
		return false;
	unik_cidr_format(&ip, false, buf, len);
	return true;
}

/* QEMU's user-mode stack for a NIC: its own network, gateway and name server when the core
 * chose them (10.0.2.0/24, .2 and .3 are also QEMU's defaults), and a hostfwd rule for each
 * published port.  The rule names the guest's address, which is where QEMU sends the
 * connection; without one QEMU picks the first address it would lease (x.x.x.15). */
static void user_net(const struct unik_device *d, struct strv *out)
{
	_cleanup_free_ char *opts = xasprintf("user,id=net-%s", d->name);
	char guest[INET_ADDRSTRLEN] = "";
	struct unik_cidr ip;
	struct unik_error err;

	if (d->ip && d->ip[0] && unik_cidr_parse(d->ip, true, &ip, &err) == 0) {
		struct unik_cidr net = {ip.addr & unik_cidr_mask(ip.prefix), ip.prefix};
		char buf[32];

		unik_cidr_format(&ip, false, guest, sizeof(guest));
		unik_cidr_format(&net, true, buf, sizeof(buf));
		opts = append(opts, ",net=%s", buf);
	}
	if (d->gateway && d->gateway[0])
		opts = append(opts, ",host=%s", d->gateway);
	if (d->dns && d->dns[0])
		opts = append(opts, ",dns=%s", d->dns);
	for (size_t p = 0; p < d->nports; p++) {
		const struct unik_port *port = &d->ports[p];

		opts = append(opts, ",hostfwd=%s:%s:%u-%s:%u", unik_port_proto_name(port->proto),
		              port->host_ip, port->host_port, guest, port->guest_port);
	}
	strv_push_take(out, opts);
	opts = NULL;
}

/* -netdev and -device for NIC i: an existing tap by name, the provider's tap on the network's
 * bridge as a descriptor, or user-mode networking. */
static int net_args(const struct qemu_config *c, size_t i, const char *bus, bool pci,
                    struct strv *out, struct unik_error *err)
{
	const struct unik_device *d = &c->devices[i];

	strv_push(out, "-netdev");
	if (d->tap && d->tap[0]) {
		/* The tap exists already, set up by whoever made it (unik-oci, in a container's
		 * network namespace).  QEMU's supervisor attaches it and hands it over, as for the
		 * taps the provider makes: QEMU's user may not open /dev/net/tun. */
		strv_pushf(out, "tap,id=net-%s,fd=%d", d->name, UNIK_VMM_FD_DEVICES + 2 * (int)i);
	} else if (d->network && d->network[0]) {
		if (!d->bridge || !d->bridge[0] || !c->taps[i][0]) {
			unik_error_set(err, UNIK_E_UNSUPPORTED,
			               "qemu: net device \"%s\": network \"%s\" has no bridge to "
			               "put its tap on",
			               d->name, d->network);
			return -1;
		}
		/* The tap is attached by QEMU's supervisor and handed over: QEMU's user may not
		 * open /dev/net/tun. */
		strv_pushf(out, "tap,id=net-%s,fd=%d", d->name, UNIK_VMM_FD_DEVICES + 2 * (int)i);
	} else {
		/* Neither: QEMU's user-mode stack, which needs no privilege. */
		user_net(d, out);
	}
	strv_push(out, "-device");
	/* No option ROM on PCI: the guest never boots from the network, and iPXE would cost
	 * boot time. */
	strv_pushf(out, "virtio-net-%s,netdev=net-%s,mac=%s%s", bus, d->name, d->mac,
	           pci ? ",romfile=" : "");
	return 0;
}

void qemu_name_taps(struct qemu_config *c)
{
	for (size_t i = 0; i < c->ndevices && i < UNIK_VMM_FD_DEVICES_MAX / 2; i++) {
		const struct unik_device *d = &c->devices[i];

		c->taps[i][0] = '\0';
		if (d->kind == UNIK_DEVICE_NET && !(d->tap && d->tap[0]) && d->network &&
		    d->network[0] && c->instance_id)
			unik_tap_name(c->instance_id, (unsigned)i, c->taps[i]);
	}
}

int qemu_forwards(const struct qemu_config *c, struct strv *out, struct unik_error *err)
{
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct unik_device *d = &c->devices[i];
		char guest[INET_ADDRSTRLEN];

		if (d->kind != UNIK_DEVICE_NET || !d->nports)
			continue;
		if (!(d->tap && d->tap[0]) && !(d->network && d->network[0]))
			continue; /* user-mode: QEMU's hostfwd */
		if (!nic_addr(d, guest, sizeof(guest))) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "qemu: net device \"%s\" publishes ports but has no address to "
			    "send them to (give it one, or let unik choose it)",
			    d->name);
			return -1;
		}
		for (size_t p = 0; p < d->nports; p++) {
			const struct unik_port *port = &d->ports[p];

			strv_pushf(out, "%s:%s:%u:%s:%u", unik_port_proto_name(port->proto),
			           port->host_ip, port->host_port, guest, port->guest_port);
		}
	}
	return 0;
}

/* -netdev, -drive / -fsdev and -device for each device.  The ids are the kind and the device's
 * name ("blk-data"), unique because the names are. */
static int device_args(const struct qemu_config *c, bool pci, struct strv *out,
                       struct unik_error *err)
{
	/* virtio-mmio's proxies on microvm are "-device"; on pc and q35 virtio-pci's "-pci". */
	const char *bus = pci ? "pci" : "device";

	for (size_t i = 0; i < c->ndevices; i++) {
		const struct unik_device *d = &c->devices[i];
		int fd = UNIK_VMM_FD_DEVICES + 2 * (int)i;

		switch (d->kind) {
		case UNIK_DEVICE_NET:
			if (net_args(c, i, bus, pci, out, err) < 0)
				return -1;
			break;
		case UNIK_DEVICE_BLK:
			/* An fd set, not /proc/self/fd/N: QEMU dups a descriptor from it and
			 * never reopens the file as its own user, so the disk needs no
			 * permission for that user.  A writable disk's set also holds a
			 * read-only descriptor, which QEMU asks for when it probes. */
			strv_push(out, "-add-fd");
			strv_pushf(out, "fd=%d,set=%d,opaque=blk-%s", fd, fd, d->name);
			if (!d->readonly) {
				strv_push(out, "-add-fd");
				strv_pushf(out, "fd=%d,set=%d,opaque=blk-%s-ro", fd + 1, fd,
				           d->name);
			}
			strv_push(out, "-drive");
			strv_pushf(out, "if=none,id=blk-%s,file=/dev/fdset/%d,format=%s%s", d->name,
			           fd, d->format ? d->format : "raw",
			           d->readonly ? ",readonly=on" : "");
			strv_push(out, "-device");
			/* The guest tells volumes apart by the serial. */
			strv_pushf(out, "virtio-blk-%s,drive=blk-%s,serial=%s", bus, d->name,
			           d->name);
			break;
		case UNIK_DEVICE_FS:
			/* security_model=none: the guest is one program with one user, so there
			 * are no guest owners to keep in xattrs (mapped-xattr); files it makes
			 * are plain files of QEMU's user on the host, readable as they are, on
			 * any file system.  QEMU reopens the directory through /proc/self/fd
			 * as its own user (docs/providers.md). */
			strv_push(out, "-fsdev");
			strv_pushf(out,
			           "local,id=fs-%s,path=/proc/self/fd/%d,security_model=none%s",
			           d->name, fd, d->readonly ? ",readonly=on" : "");
			strv_push(out, "-device");
			strv_pushf(out, "virtio-9p-%s,fsdev=fs-%s,mount_tag=%s", bus, d->name,
			           d->name);
			break;
		default:
			unik_error_set(err, UNIK_E_UNSUPPORTED,
			               "qemu: device \"%s\" is of a kind qemu does not attach",
			               d->name ? d->name : "");
			return -1;
		}
	}
	return 0;
}

size_t qemu_device_fds(const struct qemu_config *c, struct unik_vmm_fd *out)
{
	size_t n = 0;

	for (size_t i = 0; i < c->ndevices && 2 * i < UNIK_VMM_FD_DEVICES_MAX; i++) {
		const struct unik_device *d = &c->devices[i];
		int fd = UNIK_VMM_FD_DEVICES + 2 * (int)i;

		if (d->kind == UNIK_DEVICE_NET && (c->taps[i][0] || (d->tap && d->tap[0]))) {
			out[n++] = (struct unik_vmm_fd){fd, UNIK_VMM_FD_TAP,
			                                c->taps[i][0] ? c->taps[i] : d->tap};
			continue;
		}
		if (d->kind != UNIK_DEVICE_BLK && d->kind != UNIK_DEVICE_FS)
			continue;
		out[n].target = fd;
		out[n].mode = d->kind == UNIK_DEVICE_FS ? UNIK_VMM_FD_DIR
		              : d->readonly             ? UNIK_VMM_FD_RO
		                                        : UNIK_VMM_FD_RW;
		out[n].path = d->path;
		n++;
		if (d->kind == UNIK_DEVICE_BLK && !d->readonly)
			out[n++] = (struct unik_vmm_fd){fd + 1, UNIK_VMM_FD_RO, d->path};
	}
	return n;
}

int qemu_build_argv(const struct qemu_config *c, struct strv *out, struct unik_error *err)
{
	const char *machine = c->machine ? c->machine : QEMU_MACHINE_DEFAULT;
	bool pci = strcmp(machine, "microvm") != 0;

	if (!c->qemu || !c->accel || !c->dir || !c->kernel || !c->cmdline) {
		unik_error_set(err, UNIK_E_INVALID,
		               "qemu command line: missing a required setting");
		return -1;
	}
	if (c->memory_mb == 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "qemu command line: memory must be at least 1 MiB");
		return -1;
	}
	if (strcmp(machine, "microvm") && strcmp(machine, "pc") && strcmp(machine, "q35")) {
		unik_error_set(err, UNIK_E_INVALID,
		               "qemu: machine `%s` is not one unik boots (microvm, pc or q35)",
		               machine);
		return -1;
	}
	if (2 * c->ndevices > UNIK_VMM_FD_DEVICES_MAX) {
		unik_error_set(err, UNIK_E_INVALID, "qemu: %zu devices (at most %d)", c->ndevices,
		               UNIK_VMM_FD_DEVICES_MAX / 2);
		return -1;
	}
	_cleanup_free_ char *name = opt_escape(c->dir);

	strv_push(out, c->qemu);
	/* Names the instance in ps: QEMU is handed its files, so no path on its command line
	 * would otherwise say which directory it belongs to. */
	strv_push(out, "-name");
	strv_push_take(out, xasprintf("guest=%s", name));
	strv_push(out, "-M");
	/* The runtime reads no ACPI table: microvm without them boots faster (make bench shows
	 * both).  Without ACPI, microvm would append virtio_mmio.device= words for its transports
	 * to the kernel's command line: never, here, as the command line is the application's. */
	if (!pci)
		strv_pushf(out, "%s,acpi=off%s", machine,
		           c->ndevices ? ",auto-kernel-cmdline=off" : "");
	else
		strv_push(out, machine);
	strv_push(out, "-accel");
	strv_push(out, c->accel);
	strv_push(out, "-cpu");
	/* IA32_ARCH_CAPABILITIES off under KVM: a nested KVM may refuse QEMU's write of it, which
	 * QEMU 7.2 answers with an assertion (abort) before the guest runs; the guest never reads
	 * it. */
	strv_push(out, !strcmp(c->accel, "kvm") ? "max,-arch-capabilities" : "max");
	strv_push(out, "-m");
	strv_pushf(out, "%lluM", (unsigned long long)c->memory_mb);
	strv_push(out, "-smp");
	strv_push(out, "1");
	strv_push(out, "-nodefaults");
	strv_push(out, "-no-user-config");
	strv_push(out, "-nographic");
	strv_push(out, "-no-reboot");
	/* The console on QEMU's stdio: its supervisor (unik-shim, unik-oci's init) reads it from a
	 * pipe and keeps the log with a cap, which QEMU's file chardev cannot. */
	strv_push(out, "-chardev");
	strv_push(out, "stdio,id=con,signal=off");
	strv_push(out, "-serial");
	strv_push(out, "chardev:con");
	strv_push(out, "-device");
	strv_push(out, "isa-debug-exit,iobase=0xf4,iosize=4");
	/* QEMU runs as a user that cannot reach the instance directory: the QMP socket is
	 * bound by its supervisor, and the kernel and initrd opened by it (lib/vmm_confine.h). */
	strv_push(out, "-chardev");
	strv_pushf(out, "socket,id=qmp,fd=%d,server=on,wait=off", UNIK_VMM_FD_QMP);
	strv_push(out, "-mon");
	strv_push(out, "chardev=qmp,mode=control");
	strv_push(out, "-kernel");
	strv_pushf(out, "/proc/self/fd/%d", UNIK_VMM_FD_KERNEL);
	strv_push(out, "-append");
	strv_push(out, c->cmdline);
	if (c->initrd) {
		strv_push(out, "-initrd");
		strv_pushf(out, "/proc/self/fd/%d", UNIK_VMM_FD_INITRD);
	}
	if (device_args(c, pci, out, err) < 0)
		return -1;
	strv_push(out, "-sandbox");
	strv_push(out, QEMU_SANDBOX);
	return 0;
}
