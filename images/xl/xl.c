/* The `xl` image format: an xl.cfg that boots the image as a Xen PVH guest.  It names the image
 * store's kernel and root fs by absolute path (xl.cfg has no way to carry them inside), and is
 * checked by reading it back with libxlutil, the parser `xl create` itself uses. */
#include "images/xl/xl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxlutil.h>

#include "images/format.h"
#include "lib/guest_elf.h"
#include "lib/util.h"

/* An xl.cfg is a few hundred bytes; anything near this is not one. */
#define XL_CFG_MAX (64 * 1024)

/* The escape libxlutil's lexer decodes for c, or 0.  Its numeric escapes (\xHH, octal) are
 * not usable: this version rejects every \xHH and drops octal ones, so other control bytes
 * go in raw, which its lexer keeps as they are. */
static char named_escape(unsigned char c)
{
	switch (c) {
	case '\a':
		return 'a';
	case '\b':
		return 'b';
	case '\f':
		return 'f';
	case '\n':
		return 'n';
	case '\r':
		return 'r';
	case '\t':
		return 't';
	case '\v':
		return 'v';
	case '"':
		return '"';
	case '\\':
		return '\\';
	}
	return 0;
}

char *unik_xl_quote(const char *s)
{
	size_t n = 2;
	char *out, *q;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += named_escape(*p) ? 2 : 1;
	out = q = xmalloc(n + 1);
	*q++ = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char e = named_escape(*p);

		if (e) {
			*q++ = '\\';
			*q++ = e;
		} else {
			*q++ = (char)*p;
		}
	}
	*q++ = '"';
	*q = '\0';
	return out;
}

int unik_xl_action_valid(const char *action)
{
	return !strcmp(action, "destroy") || !strcmp(action, "preserve") ||
	       !strcmp(action, "coredump-destroy");
}

/* Every action xl.cfg(5) knows, for check(): a hand-edited file may use any of them. */
static int xl_action_known(const char *action)
{
	static const char *const known[] = {"destroy",   "restart",          "rename-restart",
	                                    "preserve",  "coredump-destroy", "coredump-restart",
	                                    "soft-reset"};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(action, known[i]))
			return 1;
	return 0;
}

static void put_str(FILE *f, const char *key, const char *value)
{
	_cleanup_free_ char *q = unik_xl_quote(value);

	fprintf(f, "%s = %s\n", key, q);
}

/* A file name that stays in its directory: no '/', not "." or "..", not hidden. */
static bool plain_name(const char *s)
{
	return *s && *s != '.' && !strchr(s, '/');
}

int unik_xl_cfg_text(const struct unik_xl_guest *g, char **out, struct unik_error *err)
{
	const char *actions[3] = {g->on_poweroff, g->on_reboot, g->on_crash};
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!g->name || !*g->name || !g->kernel ||
	    (g->relative ? !plain_name(g->kernel) || (g->ramdisk && !plain_name(g->ramdisk))
	                 : g->kernel[0] != '/' || (g->ramdisk && g->ramdisk[0] != '/'))) {
		unik_error_set(err, UNIK_E_INVALID,
		               g->relative
		                   ? "xl.cfg: a guest needs a name and kernel (and ramdisk) "
		                     "file names without a '/'"
		                   : "xl.cfg: a guest needs a name and an absolute kernel "
		                     "(and ramdisk) path");
		return -1;
	}
	if (g->memory_mb == 0 || g->memory_mb > LONG_MAX / 1024 || g->vcpus == 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "xl.cfg: memory (%llu MiB) and vcpus (%u) must be positive",
		               (unsigned long long)g->memory_mb, g->vcpus);
		return -1;
	}
	for (size_t i = 0; i < 3; i++)
		if (actions[i] && !unik_xl_action_valid(actions[i])) {
			unik_error_set(err, UNIK_E_INVALID,
			               "xl.cfg: unknown action \"%.40s\" (destroy, preserve or "
			               "coredump-destroy)",
			               actions[i]);
			return -1;
		}
	f = open_memstream(&text, &len);
	if (!f) {
		unik_error_sys(err, errno, "xl.cfg: open_memstream");
		return -1;
	}
	fputs(g->relative
	          ? "# A unik image as a Xen PVH guest (xl.cfg(5)); boot it on a Xen host with\n"
	            "# `xl create THIS-FILE` from this directory, which holds its kernel and root "
	            "fs.\n"
	          : "# A unik image as a Xen PVH guest (xl.cfg(5)); boot it on a Xen host with\n"
	            "# `xl create THIS-FILE`.  It names the image store's kernel and root fs by "
	            "path.\n",
	      f);
	put_str(f, "type", "pvh");
	put_str(f, "name", g->name);
	put_str(f, "kernel", g->kernel);
	if (g->ramdisk)
		put_str(f, "ramdisk", g->ramdisk);
	put_str(f, "cmdline", g->cmdline ? g->cmdline : "");
	fprintf(f, "memory = %llu\nmaxmem = %llu\nvcpus = %u\nmaxvcpus = %u\n",
	        (unsigned long long)g->memory_mb, (unsigned long long)g->memory_mb, g->vcpus,
	        g->vcpus);
	put_str(f, "on_poweroff", g->on_poweroff ? g->on_poweroff : "destroy");
	put_str(f, "on_reboot", g->on_reboot ? g->on_reboot : "destroy");
	put_str(f, "on_crash", g->on_crash ? g->on_crash : "destroy");
	if (g->disk) {
		_cleanup_free_ char *q = unik_xl_quote(g->disk);

		fprintf(f, "disk = [ %s ]\n", q);
	}
	if (fclose(f) != 0) {
		free(text);
		unik_error_sys(err, errno, "xl.cfg: write");
		return -1;
	}
	*out = text;
	return 0;
}

void unik_xl_parsed_free(struct unik_xl_parsed *p)
{
	free(p->type);
	free(p->name);
	free(p->kernel);
	free(p->ramdisk);
	free(p->cmdline);
	free(p->on_poweroff);
	free(p->on_reboot);
	free(p->on_crash);
	free(p->disk);
	memset(p, 0, sizeof(*p));
}

/* A string setting, copied; NULL when absent.  -1 (with err) when it is not a string. */
static int get_str(XLU_Config *cfg, const char *what, const char *key, char **out,
                   struct unik_error *err)
{
	const char *v = NULL;
	int rc = xlu_cfg_get_string(cfg, key, &v, 1);

	*out = NULL;
	if (rc == ESRCH)
		return 0;
	if (rc) {
		unik_error_set(err, UNIK_E_INVALID, "%s: \"%s\" is not a string", what, key);
		return -1;
	}
	*out = xstrdup(v);
	return 0;
}

static int get_long(XLU_Config *cfg, const char *what, const char *key, long *out,
                    struct unik_error *err)
{
	int rc = xlu_cfg_get_long(cfg, key, out, 1);

	if (rc == ESRCH) {
		*out = -1;
		return 0;
	}
	if (rc) {
		unik_error_set(err, UNIK_E_INVALID, "%s: \"%s\" is not a number", what, key);
		return -1;
	}
	return 0;
}

/* libxlutil reports to a FILE; its last line is the message worth showing. */
static const char *last_report_line(char *text)
{
	char *end = text + strlen(text), *start;

	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		*--end = '\0';
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	return start;
}

int unik_xl_cfg_parse(const char *text, size_t len, const char *what, struct unik_xl_parsed *out,
                      struct unik_error *err)
{
	char *report = NULL;
	size_t report_len = 0;
	FILE *rf = open_memstream(&report, &report_len);
	XLU_Config *cfg = NULL;
	XLU_ConfigList *disks = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!rf) {
		unik_error_sys(err, errno, "%s: open_memstream", what);
		return -1;
	}
	if (len > XL_CFG_MAX || memchr(text, '\0', len)) {
		unik_error_set(err, UNIK_E_INVALID, "%s: not an xl.cfg (%s)", what,
		               len > XL_CFG_MAX ? "too big" : "binary data");
		goto out;
	}
	cfg = xlu_cfg_init(rf, what);
	if (!cfg) {
		unik_error_set(err, UNIK_E_NOMEM, "%s: xlu_cfg_init failed", what);
		goto out;
	}
	if (xlu_cfg_readdata(cfg, text, (int)len) != 0) {
		fflush(rf);
		unik_error_set(err, UNIK_E_INVALID, "%s: libxlutil cannot parse it: %s", what,
		               report && *report ? last_report_line(report) : "syntax error");
		goto out;
	}
	if (get_str(cfg, what, "type", &out->type, err) < 0 ||
	    get_str(cfg, what, "name", &out->name, err) < 0 ||
	    get_str(cfg, what, "kernel", &out->kernel, err) < 0 ||
	    get_str(cfg, what, "ramdisk", &out->ramdisk, err) < 0 ||
	    get_str(cfg, what, "cmdline", &out->cmdline, err) < 0 ||
	    get_str(cfg, what, "on_poweroff", &out->on_poweroff, err) < 0 ||
	    get_str(cfg, what, "on_reboot", &out->on_reboot, err) < 0 ||
	    get_str(cfg, what, "on_crash", &out->on_crash, err) < 0 ||
	    get_long(cfg, what, "memory", &out->memory, err) < 0 ||
	    get_long(cfg, what, "maxmem", &out->maxmem, err) < 0 ||
	    get_long(cfg, what, "vcpus", &out->vcpus, err) < 0 ||
	    get_long(cfg, what, "maxvcpus", &out->maxvcpus, err) < 0)
		goto out;
	switch (xlu_cfg_get_list(cfg, "disk", &disks, &out->n_disks, 1)) {
	case 0:
		if (out->n_disks > 0 && xlu_cfg_get_listitem(disks, 0))
			out->disk = xstrdup(xlu_cfg_get_listitem(disks, 0));
		break;
	case ESRCH:
		out->n_disks = 0;
		break;
	default:
		unik_error_set(err, UNIK_E_INVALID, "%s: \"disk\" is not a list", what);
		goto out;
	}
	rc = 0;
out:
	if (cfg)
		xlu_cfg_destroy(cfg);
	fclose(rf);
	free(report);
	if (rc < 0)
		unik_xl_parsed_free(out);
	return rc;
}

/* ---- the image format ---------------------------------------------------------------------- */

static int xl_check(const char *path, struct unik_error *err)
{
	_cleanup_free_ char *text = NULL;
	struct unik_xl_parsed p;
	size_t len;
	int rc = -1;

	if (unik_read_file(path, &text, &len, err) < 0)
		return -1;
	if (unik_xl_cfg_parse(text, len, path, &p, err) < 0)
		return -1;
	if (!p.type || strcmp(p.type, "pvh") != 0) {
		unik_error_set(err, UNIK_E_INVALID, "%s: type is \"%s\", not \"pvh\"", path,
		               p.type ? p.type : "(none)");
		goto out;
	}
	if (!p.name || !*p.name || !p.kernel || p.kernel[0] != '/') {
		unik_error_set(err, UNIK_E_INVALID, "%s: %s", path,
		               !p.name || !*p.name ? "no domain name" : "no absolute kernel path");
		goto out;
	}
	if (p.memory <= 0 || (p.vcpus != -1 && p.vcpus <= 0)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s: memory (%ld) and vcpus (%ld) must be positive", path, p.memory,
		               p.vcpus);
		goto out;
	}
	for (size_t i = 0; i < 3; i++) {
		const char *act = i == 0 ? p.on_poweroff : i == 1 ? p.on_reboot : p.on_crash;

		if (act && !xl_action_known(act)) {
			unik_error_set(err, UNIK_E_INVALID, "%s: unknown action \"%.40s\"", path,
			               act);
			goto out;
		}
	}
	/* The file is only as good as what it points at. */
	if (unik_guest_elf_check(p.kernel, NULL, err) < 0) {
		unik_error_prefix(err, "%s: its kernel", path);
		goto out;
	}
	if (p.ramdisk && access(p.ramdisk, R_OK) < 0) {
		unik_error_sys(err, errno, "%s: its ramdisk `%s`", path, p.ramdisk);
		goto out;
	}
	rc = 0;
out:
	unik_xl_parsed_free(&p);
	return rc;
}

static int xl_pack(const struct unik_artifacts *a, const char *out_path, uint64_t *size,
                   struct unik_error *err)
{
	_cleanup_free_ char *kernel = NULL, *ramdisk = NULL, *text = NULL;
	struct unik_xl_guest g = {0};

	if (unik_guest_elf_check(a->kernel, NULL, err) < 0)
		return -1;
	kernel = realpath(a->kernel, NULL);
	if (!kernel) {
		unik_error_sys(err, errno, "xl: kernel `%s`", a->kernel);
		return -1;
	}
	if (a->rootfs && !(ramdisk = realpath(a->rootfs, NULL))) {
		unik_error_sys(err, errno, "xl: root fs `%s`", a->rootfs);
		return -1;
	}
	g.name = a->name && *a->name ? a->name : "unik";
	g.kernel = kernel;
	g.ramdisk = ramdisk;
	g.cmdline = a->cmdline ? a->cmdline : "";
	g.memory_mb = a->memory_mb ? a->memory_mb : UNIK_XL_DEFAULT_MEMORY_MB;
	g.vcpus = 1;
	if (unik_xl_cfg_text(&g, &text, err) < 0)
		return -1;
	if (unik_write_file_atomic(out_path, text, strlen(text), 0644, err) < 0)
		return -1;
	*size = strlen(text);
	return 0;
}

const struct unik_image_format unik_image_format_xl = {
    .name = "xl",
    .description = "an xl.cfg that boots the image as a Xen PVH guest (`xl create`); it names "
                   "the image store's kernel and root fs",
    .file = "xl.cfg",
    .pack = xl_pack,
    .check = xl_check,
};
