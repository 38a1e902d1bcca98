/* What every backend's build() does once its kernel exists: see unik_compiler_artifacts in
 * compiler.h.  One copy, so each backend checks `files:` and makes the root fs the same way. */
#include "compilers/compiler.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/cmdline.h"
#include "lib/cpio.h"
#include "lib/guest_elf.h"
#include "lib/util.h"

static void log_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(int fd, const char *fmt, ...)
{
	_cleanup_free_ char *line = NULL;
	va_list ap;

	if (fd < 0)
		return;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (line)
		(void)unik_write_all(fd, line, strlen(line));
}

static void warn_line(void *ctx, const char *path, const char *reason)
{
	log_line(*(int *)ctx, "root fs: %s: %s\n", path, reason);
}

char *unik_compiler_rootfs_dir(const char *src_dir, const struct unik_manifest *m,
                               struct unik_error *err)
{
	char real_src[PATH_MAX], real_files[PATH_MAX];
	_cleanup_free_ char *fp = NULL;
	struct stat st;
	size_t n;

	if (!m->files)
		return NULL;
	fp = unik_path_join(src_dir, m->files);
	if (!realpath(src_dir, real_src) || !realpath(fp, real_files) ||
	    stat(real_files, &st) < 0 || !S_ISDIR(st.st_mode)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s: \"files\" names %s, which is not a directory in the source",
		               m->file ? m->file : "Unikfile", m->files);
		return NULL;
	}
	/* A link may point anywhere: the resolved directory must still be the source's. */
	n = strlen(real_src);
	if (strncmp(real_files, real_src, n) != 0 || (real_files[n] != '/' && real_files[n])) {
		unik_error_set(err, UNIK_E_INVALID, "\"files\" leaves the source tree");
		return NULL;
	}
	return xstrdup(real_files);
}

char *unik_compiler_cmdline(const struct unik_manifest *m)
{
	_cleanup_strv_ struct strv words = {0};

	for (size_t i = 0; i < m->env.n; i++)
		strv_push_take(&words, unik_cmdline_quote_word(m->env.v[i]));
	if (m->args && *m->args)
		strv_push(&words, m->args);
	if (!words.n)
		return NULL;
	return strv_join(&words, " ");
}

int unik_compiler_artifacts(const struct unik_compiler *c, const char *src_dir,
                            const struct unik_manifest *m, const char *out_dir, char *kernel,
                            int log_fd, struct unik_artifacts *out, struct unik_error *err)
{
	_cleanup_free_ char *k = kernel;
	_cleanup_free_ char *files = NULL, *cpio = NULL;
	struct unik_guest_elf g;
	const char *t;

	memset(out, 0, sizeof(*out));
	/* A unik kernel, or a mirage application for a target that runs on its own monitor
	 * (unix: unik-spt; hvt: unik-hvt), whose platform is named as its provider. */
	if (unik_guest_elf_check_image(k, &g, err) < 0)
		return -1;
	if (m->files) {
		if (!(files = unik_compiler_rootfs_dir(src_dir, m, err)))
			return -1;
		cpio = unik_path_join(out_dir, "rootfs.cpio");
		if (unik_cpio_pack(files, cpio, warn_line, &log_fd, err) < 0) {
			unik_error_prefix(err, "pack the root fs");
			return -1;
		}
		log_line(log_fd, "unik: root fs from %s\n", m->files);
	}
	out->kernel = unik_steal_ptr(&k);
	out->rootfs = unik_steal_ptr(&cpio);
	out->cmdline = unik_compiler_cmdline(m);
	out->name = m->name ? xstrdup(m->name) : NULL;
	out->memory_mb = m->memory_mb;
	out->base = xstrdup(c->base);
	out->language = xstrdup(m->language ? m->language : c->languages[0]);
	out->compiler = xstrdup(c->name);
	t = unik_target_monitor_provider(unik_guest_elf_app_target(&g));
	out->platform = t ? (enum unik_platform)unik_platform_parse(t) : UNIK_PLATFORM_PVH;
	out->devices = 0;
	return 0;
}
