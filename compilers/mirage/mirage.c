/* The mirage backend: C applications written against the device API of
 * include/unik/devices-app.h (docs/backends/mirage.md), over the devices their Unikfile declares.
 * Every top-level .c file is compiled with `unik-cc --unik-app`, one --unik-device per declared
 * device, so the kernel carries the declaration (UNIK_NOTE_APP_DEVICES) that runs bind by name. */
#include "compilers/compiler.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cmdline.h"
#include "lib/util.h"

/* The targets one source builds for (unik-cc --unik-target): virtio, a kernel for QEMU; unix, a
 * static Linux executable that bin/unik-spt runs (the spt provider); hvt, a kernel for unik's
 * own KVM monitor bin/unik-hvt (the hvt provider).  xen is to come. */
static const char *const targets[] = {"virtio", "unix", "hvt", NULL};
static const char *const target_providers[] = {NULL, "spt", "hvt", NULL};

static void logf_(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(int fd, const char *fmt, ...)
{
	_cleanup_free_ char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (line)
		(void)unik_write_all(fd, line, strlen(line));
}

/* Where include/unik/devices-app.h is, from unik-cc's place: ../include beside bin/ (a build
 * tree's bin/ is build/bin, whose ../../include is the source's). */
static char *api_include(const char *cc)
{
	static const char *const rel[] = {"../include", "../../include", "../include/unik-sdk"};
	_cleanup_free_ char *real = realpath(cc, NULL);
	char *slash = real ? strrchr(real, '/') : NULL;

	if (!slash)
		return NULL;
	*slash = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		_cleanup_free_ char *d = unik_path_join(real, rel[i]);
		_cleanup_free_ char *h = unik_path_join(d, "unik/devices-app.h");

		if (access(h, R_OK) == 0)
			return realpath(d, NULL);
	}
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether the source is laid out for another base: a rump program has main(); an includeos
 * service has service_start().  A mirage application has unik_app_main(). */
static const char *looks_like(const char *src, const struct strv *files)
{
	bool app = false, main_fn = false, service = false;

	for (size_t i = 0; i < files->n; i++) {
		_cleanup_free_ char *p = unik_path_join(src, files->v[i]);
		_cleanup_free_ char *text = NULL;
		size_t len;

		if (unik_read_file(p, &text, &len, NULL) < 0)
			continue;
		app = app || strstr(text, "unik_app_main");
		main_fn = main_fn || strstr(text, "int main(") || strstr(text, "int main (");
		service = service || strstr(text, "service_start");
	}
	if (app)
		return NULL;
	return service ? "includeos" : main_fn ? "rump" : NULL;
}

/* Whether a source includes unik/lwip-netif.h: the application links lwIP as a library
 * (unik-cc --unik-lwip, docs/backends/mirage.md). */
static bool uses_lwip(const char *src, const struct strv *files)
{
	for (size_t i = 0; i < files->n; i++) {
		_cleanup_free_ char *p = unik_path_join(src, files->v[i]);
		_cleanup_free_ char *text = NULL;
		size_t len;

		if (unik_read_file(p, &text, &len, NULL) == 0 && strstr(text, "unik/lwip-netif.h"))
			return true;
	}
	return false;
}

extern const struct unik_compiler unik_compiler_mirage;

static int mirage_build(const char *src_dir, const struct unik_manifest *m, const char *out_dir,
                        const struct unik_sandbox *sandbox, int log_fd, struct unik_artifacts *out,
                        struct unik_error *err)
{
	_cleanup_free_ char *cc = unik_cc_path();
	_cleanup_free_ char *inc = NULL, *kernel = NULL;
	_cleanup_strv_ struct strv files = {0}, argv = {0};
	struct unik_sandbox sb;
	const char *base, *other, *target = m->target ? m->target : "virtio";
	bool lwip;
	DIR *d;
	struct dirent *de;
	int r;

	memset(out, 0, sizeof(*out));
	if (m->target) {
		bool known = false;

		for (size_t i = 0; targets[i]; i++)
			known = known || !strcmp(targets[i], m->target);
		if (!known) {
			unik_error_set(
			    err, UNIK_E_UNSUPPORTED,
			    "the mirage backend has no target \"%.20s\" (targets: virtio, unix, "
			    "hvt; xen is not made yet)",
			    m->target);
			return -1;
		}
	}
	if (access(cc, X_OK) < 0 && strchr(cc, '/')) {
		unik_error_sys(err, errno, "unik-cc (%s) cannot be run; set UNIK_CC", cc);
		return -1;
	}
	if (!(d = opendir(src_dir))) {
		unik_error_sys(err, errno, "open %s", src_dir);
		return -1;
	}
	while ((de = readdir(d)))
		if (unik_str_has_suffix(de->d_name, ".c") && strlen(de->d_name) > 2)
			strv_push(&files, de->d_name);
	closedir(d);
	if (!files.n) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "nothing to build: a mirage application is the .c files at the top of "
		    "the source, one of which defines unik_app_main");
		return -1;
	}
	qsort(files.v, files.n, sizeof(*files.v), cmp_str);
	if ((other = looks_like(src_dir, &files))) {
		unik_error_set(err, UNIK_E_INVALID,
		               "this source looks like a %s project (no unik_app_main): build it "
		               "with --base %s, or write unik_app_main (docs/backends/mirage.md)",
		               other, other);
		return -1;
	}

	unik_sandbox_copy(&sb, sandbox);
	unik_sandbox_toolchain(&sb, cc);
	inc = api_include(cc);
	if (inc)
		unik_sandbox_add_ro_dir(&sb, inc);

	base = m->binary ? strrchr(m->binary, '/') : NULL;
	base = base ? base + 1 : (m->binary ? m->binary : (m->name ? m->name : "app"));
	kernel = unik_path_join(out_dir, base);
	strv_push(&argv, cc);
	strv_push(&argv, "-O2");
	strv_push(&argv, "--unik-app");
	strv_pushf(&argv, "--unik-target=%s", target);
	lwip = uses_lwip(src_dir, &files);
	if (lwip)
		strv_push(&argv, "--unik-lwip");
	for (size_t i = 0; i < m->devices.n; i++)
		strv_pushf(&argv, "--unik-device=%s", m->devices.v[i]);
	if (inc)
		strv_pushf(&argv, "-I%s", inc);
	strv_push(&argv, "-o");
	strv_push(&argv, kernel);
	for (size_t i = 0; i < files.n; i++)
		strv_pushf(&argv, "./%s", files.v[i]);
	r = unik_sandbox_run_logged(&sb, (const char *const *)strv_argv(&argv), src_dir, log_fd,
	                            "unik-cc", err);
	unik_sandbox_free(&sb);
	if (r < 0)
		return -1;
	logf_(log_fd, "unik: mirage application, target %s%s, devices:", target,
	      lwip ? ", with lwIP" : "");
	for (size_t i = 0; i < m->devices.n; i++)
		logf_(log_fd, " %s", m->devices.v[i]);
	logf_(log_fd, "%s\n", m->devices.n ? "" : " none");
	return unik_compiler_artifacts(&unik_compiler_mirage, src_dir, m, out_dir,
	                               unik_steal_ptr(&kernel), log_fd, out, err);
}

static const char *const mirage_languages[] = {"c", NULL};

const struct unik_compiler unik_compiler_mirage = {
    .name = "mirage",
    .base = "mirage",
    .languages = mirage_languages,
    .description = "applications over explicit devices (console, net frames, block sectors, "
                   "clocks, yield), MirageOS-style",
    .usage = "The .c files at the top of the directory, one defining\n"
             "int unik_app_main(const struct unik_app_info *) against <unik/devices-app.h>.\n"
             "The Unikfile declares the devices the application uses, by name:\n"
             "  devices: [{net: service}, {block: storage}]\n"
             "and a run binds each one: unik run --net service=NETWORK --block storage=VOLUME\n"
             "(NETWORK \"user\" for user-mode networking).  target: virtio (QEMU, the\n"
             "default), unix (a seccomp-confined host process, unik-spt; the spt provider)\n"
             "or hvt (unik's own KVM monitor, unik-hvt; the hvt provider),\n"
             "in the Unikfile or with unik build --target.  See docs/backends/mirage.md.\n",
    .targets = targets,
    .target_providers = target_providers,
    .build = mirage_build,
};
