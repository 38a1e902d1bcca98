/* The QEMU command line of a qemu-provider instance: microvm, PVH direct boot, console to a file,
 * isa-debug-exit for the guest's exit status, QMP on a unix socket.  Pinned by golden files. */
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

int qemu_build_argv(const struct qemu_config *c, struct strv *out, struct unik_error *err)
{
	struct sockaddr_un sun;
	char *p;
	_cleanup_free_ char *qmp = NULL;
	_cleanup_free_ char *dir = NULL;

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
	qmp = unik_path_join(c->dir, QEMU_QMP_FILE);
	/* sun_path holds 107 characters: a deep $UNIK_HOME would not fit, so then QEMU (which runs
	 * in the instance directory) gets the relative name. */
	if (strlen(qmp) >= sizeof(sun.sun_path)) {
		free(qmp);
		qmp = xstrdup(QEMU_QMP_FILE);
	}
	dir = opt_escape(c->dir);
	p = opt_escape(qmp);
	free(qmp);
	qmp = p;

	strv_push(out, c->qemu);
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
	strv_push(out, "-chardev");
	/* append: a restarted instance keeps its earlier console (docs/api/rest.md). */
	strv_pushf(out, "file,id=con,path=%s/%s,append=on", dir, QEMU_CONSOLE_FILE);
	strv_push(out, "-serial");
	strv_push(out, "chardev:con");
	strv_push(out, "-device");
	strv_push(out, "isa-debug-exit,iobase=0xf4,iosize=4");
	strv_push(out, "-qmp");
	strv_pushf(out, "unix:%s,server=on,wait=off", qmp);
	strv_push(out, "-kernel");
	strv_push(out, c->kernel);
	strv_push(out, "-append");
	strv_push(out, c->cmdline);
	if (c->initrd) {
		strv_push(out, "-initrd");
		strv_push(out, c->initrd);
	}
	return 0;
}
