/* The libvirt domain XML of a kvm-provider instance: direct PVH boot of the kernel ELF, COM1 logged
 * by virtlogd into console.log (appended), QEMU as an unprivileged user, isa-debug-exit for the
 * guest's exit status, the instance's devices, and a <metadata> element that marks the domain as
 * unik's.  A pure function, pinned by golden files. */
#include "providers/kvm/kvm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *kvm_xml_escape(const char *s)
{
	size_t n = 0;
	char *out, *p;

	for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
		switch (*q) {
		case '&':
			n += 5;
			break;
		case '<':
		case '>':
			n += 4;
			break;
		case '\'':
		case '"':
			n += 6;
			break;
		default:
			n += (*q < 0x20 && *q != '\t' && *q != '\n') || *q == 0x7f ? 3 : 1;
		}
	}
	out = xmalloc(n + 1);
	p = out;
	for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
		const char *rep = NULL;

		switch (*q) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		case '"':
			rep = "&quot;";
			break;
		default:
			if ((*q < 0x20 && *q != '\t' && *q != '\n') || *q == 0x7f)
				rep =
				    "\xef\xbf\xbd"; /* U+FFFD: XML 1.0 has no way to carry these */
		}
		if (rep) {
			size_t l = strlen(rep);

			memcpy(p, rep, l);
			p += l;
		} else {
			*p++ = (char)*q;
		}
	}
	*p = '\0';
	return out;
}

char *kvm_domain_name(const char *instance_name, const char *instance_id)
{
	char part[33];
	size_t n = 0;

	for (const char *q = instance_name ? instance_name : ""; *q && n < sizeof(part) - 1; q++) {
		char c = *q;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';

		part[n++] = ok ? c : '-';
	}
	/* No leading dot (a hidden file in libvirt's directories) or dangling dashes. */
	while (n > 0 && (part[n - 1] == '-' || part[n - 1] == '.'))
		n--;
	part[n] = '\0';
	size_t skip = strspn(part, "-.");

	if (!part[skip])
		return xasprintf("unik-%s", instance_id);
	return xasprintf("unik-%s-%s", part + skip, instance_id);
}

char *kvm_xml_attr(const char *xml, const char *attr)
{
	size_t al = strlen(attr);
	const char *p = xml ? strchr(xml, '<') : NULL;

	if (!p)
		return NULL;
	/* Only the first element's start tag: up to its first '>'. */
	const char *end = strchr(p, '>');

	if (!end)
		return NULL;
	for (const char *q = p + 1; q + al + 2 < end; q++) {
		char quote;
		const char *v, *ve;

		if ((q[-1] != ' ' && q[-1] != '\t' && q[-1] != '\n') || strncmp(q, attr, al) ||
		    q[al] != '=')
			continue;
		quote = q[al + 1];
		if (quote != '"' && quote != '\'')
			continue;
		v = q + al + 2;
		ve = memchr(v, quote, (size_t)(end - v));
		if (!ve)
			return NULL;
		/* Decode the five predefined entities: ids never have any, but be exact. */
		char *out = xmalloc((size_t)(ve - v) + 1), *o = out;
		static const struct {
			const char *ent;
			char c;
		} ents[] = {{"&amp;", '&'},
		            {"&lt;", '<'},
		            {"&gt;", '>'},
		            {"&apos;", '\''},
		            {"&quot;", '"'}};

		while (v < ve) {
			size_t i;

			for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
				size_t el = strlen(ents[i].ent);

				if ((size_t)(ve - v) >= el && !strncmp(v, ents[i].ent, el)) {
					*o++ = ents[i].c;
					v += el;
					break;
				}
			}
			if (i == sizeof(ents) / sizeof(ents[0]))
				*o++ = *v++;
		}
		*o = '\0';
		return out;
	}
	return NULL;
}

/* fprintf of one element whose text is an escaped value. */
static void elem(FILE *f, const char *indent, const char *tag, const char *value)
{
	_cleanup_free_ char *v = kvm_xml_escape(value);

	fprintf(f, "%s<%s>%s</%s>\n", indent, tag, v, tag);
}

/* kvm forwards no published ports: on user-mode networking that would take libvirt's passt
 * backend (<portForward>), which the libvirt of Debian 12 (9.0) refuses to parse, and on a
 * network or a tap a forwarder on the host, which the qemu provider has in unik-shim and kvm,
 * whose QEMU libvirt starts, has not.  A run that asks for them is refused rather than started
 * with its ports silently closed (docs/providers.md). */
static int net_ports_check(const struct unik_device *d, struct unik_error *err)
{
	char port[96];

	if (!d->nports)
		return 0;
	unik_port_format(&d->ports[0], port, sizeof(port));
	if ((d->tap && d->tap[0]) || (d->bridge && d->bridge[0]) || (d->network && d->network[0]))
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "kvm: net device \"%s\": cannot publish port %s: kvm has no "
		               "forwarder on the host; reach the guest at its own address on the "
		               "network%s%s%s instead, or run it with the qemu provider",
		               d->name, port, d->ip ? " (" : "", d->ip ? d->ip : "",
		               d->ip ? ")" : "");
	else
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "kvm: net device \"%s\": cannot publish port %s on user-mode "
		               "networking: that needs libvirt's passt backend, which this libvirt "
		               "does not have; put the instance on a network (--network NAME) and "
		               "reach it at its address, or run it with the qemu provider",
		               d->name, port);
	return -1;
}

/* One <interface>, <disk> or <filesystem> per device.  On microvm every one gets a virtio-mmio
 * address, as the machine has no PCI bus; elsewhere libvirt picks PCI slots. */
static int device_xml(FILE *f, const struct kvm_domain_params *p, struct unik_error *err)
{
	bool mmio = !strcmp(p->machine, "microvm");
	const char *addr = mmio ? "      <address type='virtio-mmio'/>\n" : "";
	int disks = p->disk ? 1 : 0; /* the boot disk is vda */

	for (size_t i = 0; i < p->ndevices; i++) {
		const struct unik_device *d = &p->devices[i];
		_cleanup_free_ char *path = d->path ? kvm_xml_escape(d->path) : NULL;

		switch (d->kind) {
		case UNIK_DEVICE_NET:
			if (net_ports_check(d, err) < 0)
				return -1;
			if (d->tap && d->tap[0]) {
				_cleanup_free_ char *tap = kvm_xml_escape(d->tap);

				/* An existing tap, used as it is: libvirt neither makes nor
				 * deletes it. */
				fprintf(f, "    <interface type='ethernet'>\n");
				fprintf(f, "      <target dev='%s' managed='no'/>\n", tap);
			} else if ((d->bridge && d->bridge[0]) || (d->network && d->network[0])) {
				/* A device filled in by hand (tests, older callers) may name
				 * the bridge as its network. */
				_cleanup_free_ char *br = kvm_xml_escape(
				    d->bridge && d->bridge[0] ? d->bridge : d->network);

				/* The network's bridge on the host: libvirt makes the tap and
				 * adds it. */
				fprintf(f, "    <interface type='bridge'>\n");
				fprintf(f, "      <source bridge='%s'/>\n", br);
			} else {
				/* QEMU's user-mode stack, as the qemu provider uses. */
				fprintf(f, "    <interface type='user'>\n");
			}
			fprintf(f, "      <mac address='%s'/>\n", d->mac);
			fprintf(f, "      <model type='virtio'/>\n");
			/* No iPXE option ROM: the guest never boots from the network. */
			if (!mmio)
				fprintf(f, "      <rom enabled='no'/>\n");
			fprintf(f, "%s", addr);
			fprintf(f, "    </interface>\n");
			break;
		case UNIK_DEVICE_BLK: {
			_cleanup_free_ char *serial = kvm_xml_escape(d->name);

			if (disks >= 26) {
				unik_error_set(err, UNIK_E_INVALID, "kvm: more than 26 disks");
				return -1;
			}
			fprintf(f, "    <disk type='file' device='disk'>\n");
			fprintf(f, "      <driver name='qemu' type='%s'/>\n",
			        d->format ? d->format : "raw");
			fprintf(f, "      <source file='%s'/>\n", path);
			fprintf(f, "      <target dev='vd%c' bus='virtio'/>\n", 'a' + disks++);
			/* The guest tells volumes apart by the serial. */
			fprintf(f, "      <serial>%s</serial>\n", serial);
			if (d->readonly)
				fprintf(f, "      <readonly/>\n");
			fprintf(f, "%s", addr);
			fprintf(f, "    </disk>\n");
			break;
		}
		case UNIK_DEVICE_FS: {
			_cleanup_free_ char *tag = kvm_xml_escape(d->name);

			/* squash is libvirt's name for QEMU's security_model=none, the qemu
			 * provider's: the guest is one program with one user, so there are no
			 * guest owners to keep in xattrs (mapped), and QEMU runs unprivileged,
			 * so it could not give files to them (passthrough); see
			 * docs/providers-kvm.md. */
			fprintf(f, "    <filesystem type='mount' accessmode='squash'>\n");
			fprintf(f, "      <source dir='%s'/>\n", path);
			fprintf(f, "      <target dir='%s'/>\n", tag);
			if (d->readonly)
				fprintf(f, "      <readonly/>\n");
			fprintf(f, "%s", addr);
			fprintf(f, "    </filesystem>\n");
			break;
		}
		default:
			unik_error_set(err, UNIK_E_UNSUPPORTED,
			               "kvm: device \"%s\" is of a kind kvm does not attach",
			               d->name ? d->name : "");
			return -1;
		}
	}
	return 0;
}

int kvm_domain_xml(const struct kvm_domain_params *p, char **out, struct unik_error *err)
{
	_cleanup_free_ char *name = NULL, *id = NULL, *image = NULL, *console = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	*out = NULL;
	if (!p->name || !*p->name || !p->type || !p->machine || !p->instance_id ||
	    (!p->kernel && !p->disk) || !p->cmdline || !p->console) {
		unik_error_set(err, UNIK_E_INVALID, "kvm domain XML: missing a required setting");
		return -1;
	}
	if (strcmp(p->type, "kvm") && strcmp(p->type, "qemu")) {
		unik_error_set(err, UNIK_E_INVALID,
		               "kvm domain XML: domain type `%s` (expected kvm or qemu)", p->type);
		return -1;
	}
	if (strcmp(p->machine, "microvm") && strcmp(p->machine, "pc") &&
	    strcmp(p->machine, "q35")) {
		unik_error_set(err, UNIK_E_INVALID,
		               "kvm: machine `%s` is not one unik boots (microvm, pc or q35)",
		               p->machine);
		return -1;
	}
	if (p->disk && (!strcmp(p->machine, "microvm") || !p->disk_format ||
	                (strcmp(p->disk_format, "raw") && strcmp(p->disk_format, "qcow2")))) {
		unik_error_set(err, UNIK_E_INVALID,
		               "kvm: a disk boot needs machine pc or q35 (firmware) and a raw or "
		               "qcow2 disk");
		return -1;
	}
	if (p->memory_mb == 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "kvm domain XML: memory must be at least 1 MiB");
		return -1;
	}
	f = open_memstream(&buf, &len);
	if (!f) {
		unik_error_sys(err, errno, "kvm domain XML");
		return -1;
	}
	name = kvm_xml_escape(p->name);
	id = kvm_xml_escape(p->instance_id);
	image = p->image_id ? kvm_xml_escape(p->image_id) : NULL;
	console = kvm_xml_escape(p->console);

	fprintf(f, "<domain type='%s' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n",
	        p->type);
	fprintf(f, "  <name>%s</name>\n", name);
	fprintf(f, "  <title>unik instance %s</title>\n", id);
	fprintf(f, "  <metadata>\n");
	fprintf(f, "    <%s:instance xmlns:%s='%s' id='%s'", KVM_XMLNS_PREFIX, KVM_XMLNS_PREFIX,
	        KVM_XMLNS, id);
	if (image)
		fprintf(f, " image='%s'", image);
	fprintf(f, "/>\n");
	fprintf(f, "  </metadata>\n");
	fprintf(f, "  <memory unit='MiB'>%llu</memory>\n", (unsigned long long)p->memory_mb);
	fprintf(f, "  <vcpu>1</vcpu>\n");
	fprintf(f, "  <os>\n");
	fprintf(f, "    <type arch='x86_64' machine='%s'>hvm</type>\n", p->machine);
	if (p->disk) {
		/* SeaBIOS boots the disk's GRUB, which has the command line baked in. */
		fprintf(f, "    <boot dev='hd'/>\n");
	} else {
		elem(f, "    ", "kernel", p->kernel);
		if (p->initrd)
			elem(f, "    ", "initrd", p->initrd);
		if (*p->cmdline)
			elem(f, "    ", "cmdline", p->cmdline);
	}
	fprintf(f, "  </os>\n");
	/* The host's CPU under KVM (as the qemu provider's -cpu max), without
	 * IA32_ARCH_CAPABILITIES, which a nested KVM may refuse (QEMU aborts; see
	 * providers/qemu/argv.c); TCG's most capable model. */
	if (!strcmp(p->type, "kvm"))
		fprintf(f, "  <cpu mode='host-passthrough'>\n"
		           "    <feature policy='disable' name='arch-capabilities'/>\n"
		           "  </cpu>\n");
	else
		fprintf(f, "  <cpu mode='maximum'/>\n");
	fprintf(f, "  <clock offset='utc'/>\n");
	/* The guest never restarts: every way it ends ends the domain. */
	fprintf(f, "  <on_poweroff>destroy</on_poweroff>\n");
	fprintf(f, "  <on_reboot>destroy</on_reboot>\n");
	fprintf(f, "  <on_crash>destroy</on_crash>\n");
	fprintf(f, "  <devices>\n");
	if (p->disk) {
		_cleanup_free_ char *disk = kvm_xml_escape(p->disk);

		/* Read-only: instances share the image's disk, and the guest never writes it. */
		fprintf(f, "    <disk type='file' device='disk'>\n");
		fprintf(f, "      <driver name='qemu' type='%s'/>\n", p->disk_format);
		fprintf(f, "      <source file='%s'/>\n", disk);
		fprintf(f, "      <target dev='vda' bus='virtio'/>\n");
		fprintf(f, "      <readonly/>\n");
		fprintf(f, "    </disk>\n");
	}
	if (device_xml(f, p, err) < 0) {
		fclose(f);
		free(buf);
		return -1;
	}
	/* The console is written by virtlogd (as root: QEMU's user cannot reach the instance
	 * directory), which caps it at its max_size and rotates it (docs/providers-kvm.md); the
	 * pty itself is left unread. */
	fprintf(f, "    <serial type='pty'>\n");
	fprintf(f, "      <log file='%s' append='on'/>\n", console);
	fprintf(f, "      <target port='0'/>\n");
	fprintf(f, "    </serial>\n");
	/* microvm has no PCI bus: libvirt's default USB controller and balloon would need one. */
	fprintf(f, "    <controller type='usb' model='none'/>\n");
	fprintf(f, "    <memballoon model='none'/>\n");
	fprintf(f, "  </devices>\n");
	if (p->dac_label) {
		_cleanup_free_ char *label = kvm_xml_escape(p->dac_label);

		/* QEMU runs as an unprivileged user that reaches only the instance's own VM
		 * directory of copies, which unik prepares (kvm.c) and libvirt relabels with its
		 * own per-domain files; libvirt adds the seccomp sandbox (qemu.conf
		 * seccomp_sandbox, on by default) and drops every capability
		 * (clear_emulator_capabilities). */
		fprintf(f, "  <seclabel type='static' model='dac' relabel='yes'>\n");
		fprintf(f, "    <label>%s</label>\n", label);
		fprintf(f, "  </seclabel>\n");
	}
	/* libvirt has no element for isa-debug-exit, through which the guest ends QEMU with its
	 * exit status (docs/guest-abi.md). */
	fprintf(f, "  <qemu:commandline>\n");
	fprintf(f, "    <qemu:arg value='-device'/>\n");
	fprintf(f, "    <qemu:arg value='isa-debug-exit,iobase=0xf4,iosize=4'/>\n");
	if (!strcmp(p->machine, "microvm") && p->ndevices) {
		/* libvirt turns microvm's ACPI off, and then QEMU appends virtio_mmio.device=
		 * words for the transports to the kernel's command line, which is the
		 * application's.  QEMU merges a second -machine into the first. */
		fprintf(f, "    <qemu:arg value='-machine'/>\n");
		fprintf(f, "    <qemu:arg value='auto-kernel-cmdline=off'/>\n");
	}
	fprintf(f, "  </qemu:commandline>\n");
	fprintf(f, "</domain>\n");
	if (fclose(f) != 0) {
		free(buf);
		unik_error_set(err, UNIK_E_IO, "kvm domain XML: out of memory");
		return -1;
	}
	*out = buf;
	return 0;
}
