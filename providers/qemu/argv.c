/* The QEMU command line of a qemu-provider instance: microvm, PVH direct boot, console on stdio,
 * isa-debug-exit for the guest's exit status, QMP on a socket it is handed, seccomp sandbox.
 * Pinned by golden files. */
#include "providers/qemu/qemu.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

const char *qemu_pick_accel(void)
{
	const char *env = getenv("UNIK_ACCEL");
	int fd;

	if (env && !strcmp(env, "tcg"))
		return "tcg";
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return "tcg";
	close(fd);
	return "kvm";
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

int qemu_build_argv(const struct qemu_config *c, struct strv *out, struct unik_error *err)
{
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
	_cleanup_free_ char *name = opt_escape(c->dir);

	strv_push(out, c->qemu);
	/* Names the instance in ps: QEMU is handed its files, so no path on its command line
	 * would otherwise say which directory it belongs to. */
	strv_push(out, "-name");
	strv_push_take(out, xasprintf("guest=%s", name));
	strv_push(out, "-M");
	strv_push(out, "microvm");
	strv_push(out, "-accel");
	strv_push(out, c->accel);
	strv_push(out, "-cpu");
	strv_push(out, "max");
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
	strv_push(out, "-sandbox");
	strv_push(out, QEMU_SANDBOX);
	return 0;
}
