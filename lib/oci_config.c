/* config.json for unik-oci: the fields it uses, checked with messages that name them; the unik
 * note that marks a kernel; and the mapping of a container's process onto the guest. */
#include "lib/oci_config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cmdline.h"
#include "lib/guest_elf.h"
#include "lib/vmm_confine.h"

#define CFG "config.json"

void oci_config_free(struct oci_config *c)
{
	free(c->oci_version);
	strv_free(&c->args);
	strv_free(&c->env);
	free(c->cwd);
	free(c->root_path);
	free(c->hostname);
	json_decref(c->annotations);
	free(c->netns_path);
	free(c->resolv_mount);
	json_decref(c->hooks);
	for (size_t i = 0; i < c->nbinds; i++) {
		free(c->binds[i].source);
		free(c->binds[i].destination);
	}
	free(c->binds);
	memset(c, 0, sizeof(*c));
}

static int bad(struct unik_error *err, const char *field, const char *what)
{
	unik_error_set(err, UNIK_E_INVALID, CFG ": %s %s", field, what);
	return -1;
}

static int string_array(json_t *arr, const char *field, bool need_one, struct strv *out,
                        struct unik_error *err)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || (need_one && json_array_size(arr) == 0))
		return bad(err, field,
		           need_one ? "must be a non-empty array of strings"
		                    : "must be an array of strings");
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			return bad(err, field, "must be an array of strings");
		if (strlen(json_string_value(v)) != json_string_length(v))
			return bad(err, field, "holds a string with a NUL character");
		strv_push(out, json_string_value(v));
	}
	return 0;
}

/* linux.namespaces: only the network namespace matters to a unikernel (its NIC). */
static int parse_namespaces(json_t *linux_, struct oci_config *out, struct unik_error *err)
{
	json_t *nss = json_object_get(linux_, "namespaces"), *ns;
	size_t i;

	if (!nss)
		return 0;
	if (!json_is_array(nss))
		return bad(err, "linux.namespaces", "must be an array");
	json_array_foreach(nss, i, ns)
	{
		json_t *type = json_object_get(ns, "type"), *path = json_object_get(ns, "path");

		if (!json_is_string(type))
			return bad(err, "linux.namespaces[].type", "must be a string");
		if (strcmp(json_string_value(type), "network"))
			continue;
		if (path && (!json_is_string(path) || json_string_value(path)[0] != '/'))
			return bad(err, "linux.namespaces[].path", "must be an absolute path");
		free(out->netns_path);
		out->netns_path = NULL;
		out->netns = OCI_NETNS_NEW;
		if (path && json_string_length(path)) {
			out->netns = OCI_NETNS_PATH;
			out->netns_path = xstrdup(json_string_value(path));
		}
	}
	return 0;
}

/* dst made absolute and clean as runc makes it (Go's filepath.Clean on "/" + dst): no empty,
 * "." or ".." components, no trailing slash.  Caller frees. */
static char *clean_path(const char *dst)
{
	char *out = xmalloc(strlen(dst) + 2);
	size_t n = 0;

	for (const char *p = dst; *p;) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else if (len && !(len == 1 && p[0] == '.')) {
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p = *end ? end + 1 : end;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

static bool path_at_or_below(const char *path, const char *top)
{
	size_t n = strlen(top);

	return !strncmp(path, top, n) && (path[n] == '\0' || path[n] == '/');
}

/* The engine fills these for a Linux container: the kernel's file systems (/proc, /sys, /dev
 * with /dev/pts, /dev/shm, /dev/mqueue, cgroups under /sys/fs/cgroup), the files through which
 * it names the container and its name servers (/etc/hostname, /etc/hosts, /etc/resolv.conf;
 * unik-oci reads the last one for the NIC), and /run (podman's /run/.containerenv, the host's
 * subscription secrets in /run/secrets, systemd's state).  A unikernel has its own /proc and
 * /dev, no /sys and no init, so none of them means anything in the guest. */
bool oci_mount_is_runtimes(const char *dst)
{
	static const char *const trees[] = {"/proc", "/sys", "/dev", "/run"};
	static const char *const files[] = {"/etc/resolv.conf", "/etc/hostname", "/etc/hosts"};

	for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++)
		if (path_at_or_below(dst, trees[i]))
			return true;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!strcmp(dst, files[i]))
			return true;
	return false;
}

static bool has_option(json_t *opts, const char *name)
{
	json_t *o;
	size_t i;

	json_array_foreach(opts, i, o)
	{
		if (!strcmp(json_string_value(o), name))
			return true;
	}
	return false;
}

/* The last of "ro" and "rw" wins, as in mount(8). */
static bool options_readonly(json_t *opts)
{
	json_t *o;
	size_t i;
	bool ro = false;

	json_array_foreach(opts, i, o)
	{
		if (!strcmp(json_string_value(o), "ro"))
			ro = true;
		else if (!strcmp(json_string_value(o), "rw"))
			ro = false;
	}
	return ro;
}

/* One entry of "mounts": the bind mount on /etc/resolv.conf, where engines put the container's
 * name servers, and the binds that may become shares. */
static int parse_mount(json_t *m, size_t i, const char *bundle, struct oci_config *out,
                       struct unik_error *err)
{
	json_t *jdst = json_object_get(m, "destination"), *jsrc = json_object_get(m, "source");
	json_t *type = json_object_get(m, "type"), *opts = json_object_get(m, "options"), *o;
	_cleanup_free_ char *dst = NULL;
	const char *src;
	struct oci_bind *b;
	size_t k;

	if (!json_is_object(m)) {
		unik_error_set(err, UNIK_E_INVALID, CFG ": mounts[%zu] must be an object", i);
		return -1;
	}
	if (!json_is_string(jdst) || !json_string_length(jdst) || (jsrc && !json_is_string(jsrc)) ||
	    (type && !json_is_string(type)) || (opts && !json_is_array(opts))) {
		unik_error_set(err, UNIK_E_INVALID,
		               CFG ": mounts[%zu] needs a destination and may have a source and a "
		                   "type (strings) and options (an array of strings)",
		               i);
		return -1;
	}
	json_array_foreach(opts, k, o)
	{
		if (!json_is_string(o)) {
			unik_error_set(err, UNIK_E_INVALID,
			               CFG ": mounts[%zu].options must be an array of strings", i);
			return -1;
		}
	}
	src = json_string_value(jsrc);
	dst = clean_path(json_string_value(jdst));
	if (src && src[0] == '/' && !strcmp(dst, "/etc/resolv.conf")) {
		free(out->resolv_mount);
		out->resolv_mount = xstrdup(src);
	}
	if (!(type && !strcmp(json_string_value(type), "bind")) && !has_option(opts, "bind") &&
	    !has_option(opts, "rbind"))
		return 0;
	if (oci_mount_is_runtimes(dst))
		return 0;
	if (!src || !src[0]) {
		unik_error_set(err, UNIK_E_INVALID,
		               CFG ": mounts[%zu] (a bind on %s) has no source", i, dst);
		return -1;
	}
	if (!strcmp(dst, "/")) {
		unik_error_set(err, UNIK_E_INVALID,
		               CFG ": mounts[%zu] binds %s on /: the guest's root is its image's, "
		                   "mount the directory on a path below it (e.g. /data)",
		               i, src);
		return -1;
	}
	for (k = 0; k < out->nbinds; k++)
		if (!strcmp(out->binds[k].destination, dst)) {
			unik_error_set(err, UNIK_E_INVALID,
			               CFG ": two bind mounts on %s (%s and %s): give each its own "
			                   "path",
			               dst, out->binds[k].source, src);
			return -1;
		}
	out->binds = xrealloc(out->binds, (out->nbinds + 1) * sizeof(*out->binds));
	b = &out->binds[out->nbinds++];
	b->source = src[0] == '/' || !bundle ? xstrdup(src) : unik_path_join(bundle, src);
	b->destination = unik_steal_ptr(&dst);
	b->readonly = options_readonly(opts);
	return 0;
}

static int parse_mounts(json_t *mounts, const char *bundle, struct oci_config *out,
                        struct unik_error *err)
{
	json_t *m;
	size_t i;

	if (!mounts)
		return 0;
	if (!json_is_array(mounts))
		return bad(err, "mounts", "must be an array");
	json_array_foreach(mounts, i, m)
	{
		if (parse_mount(m, i, bundle, out, err) < 0)
			return -1;
	}
	return 0;
}

/* hooks: an object of arrays of {path, args, env, timeout}, checked here so that running them
 * later cannot meet a malformed entry. */
static int parse_hooks(json_t *hooks, struct oci_config *out, struct unik_error *err)
{
	const char *k;
	json_t *arr;

	if (!hooks)
		return 0;
	if (!json_is_object(hooks))
		return bad(err, "hooks", "must be an object");
	json_object_foreach(hooks, k, arr)
	{
		json_t *h;
		size_t i;

		if (!json_is_array(arr)) {
			unik_error_set(err, UNIK_E_INVALID, CFG ": hooks.%s must be an array", k);
			return -1;
		}
		json_array_foreach(arr, i, h)
		{
			json_t *path = json_object_get(h, "path"),
			       *t = json_object_get(h, "timeout");
			json_t *args = json_object_get(h, "args"), *env = json_object_get(h, "env");
			struct strv tmp = {0};
			int rc = 0;

			if (!json_is_string(path) || json_string_value(path)[0] != '/') {
				unik_error_set(err, UNIK_E_INVALID,
				               CFG ": hooks.%s[%zu].path must be an absolute path",
				               k, i);
				return -1;
			}
			if (t && (!json_is_integer(t) || json_integer_value(t) <= 0)) {
				unik_error_set(
				    err, UNIK_E_INVALID,
				    CFG ": hooks.%s[%zu].timeout must be a positive integer", k, i);
				return -1;
			}
			if (args)
				rc = string_array(args, "hooks[].args", false, &tmp, err);
			if (!rc && env)
				rc = string_array(env, "hooks[].env", false, &tmp, err);
			strv_free(&tmp);
			if (rc < 0)
				return -1;
		}
	}
	json_decref(out->hooks);
	out->hooks = json_incref(hooks);
	return 0;
}

int oci_config_parse(const char *text, size_t len, const char *bundle, struct oci_config *out,
                     struct unik_error *err)
{
	json_error_t jerr;
	json_t *root, *v, *process, *rootfs, *linux_, *ann;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->annotations = json_object();
	out->hooks = json_object();
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		unik_error_set(err, UNIK_E_INVALID, CFG " line %d column %d: %s", jerr.line,
		               jerr.column, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		unik_error_set(err, UNIK_E_INVALID, CFG ": the document must be a JSON object");
		goto out;
	}
	v = json_object_get(root, "ociVersion");
	if (v && !json_is_string(v)) {
		bad(err, "ociVersion", "must be a string");
		goto out;
	}
	out->oci_version = xstrdup(v ? json_string_value(v) : "");
	/* Linux's limit (sethostname), which the guest keeps too (include/unik/devices.h). */
	v = json_object_get(root, "hostname");
	if (v && (!json_is_string(v) || strlen(json_string_value(v)) > 64)) {
		bad(err, "hostname", "must be a string of at most 64 bytes");
		goto out;
	}
	out->hostname = xstrdup(v ? json_string_value(v) : "");

	process = json_object_get(root, "process");
	if (!json_is_object(process)) {
		bad(err, "process", process ? "must be an object" : "is missing");
		goto out;
	}
	if (string_array(json_object_get(process, "args"), "process.args", true, &out->args, err) <
	    0)
		goto out;
	if (out->args.v[0][0] == '\0') {
		bad(err, "process.args[0]", "is empty");
		goto out;
	}
	v = json_object_get(process, "env");
	if (v && string_array(v, "process.env", false, &out->env, err) < 0)
		goto out;
	v = json_object_get(process, "cwd");
	if (v && (!json_is_string(v) || json_string_value(v)[0] != '/')) {
		bad(err, "process.cwd", "must be an absolute path");
		goto out;
	}
	out->cwd = xstrdup(v ? json_string_value(v) : "/");
	v = json_object_get(process, "terminal");
	if (v && !json_is_boolean(v)) {
		bad(err, "process.terminal", "must be true or false");
		goto out;
	}
	out->terminal = v && json_is_true(v);

	rootfs = json_object_get(root, "root");
	if (!json_is_object(rootfs)) {
		bad(err, "root", rootfs ? "must be an object" : "is missing");
		goto out;
	}
	v = json_object_get(rootfs, "path");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		bad(err, "root.path", v ? "must be a non-empty string" : "is missing");
		goto out;
	}
	if (json_string_value(v)[0] == '/' || !bundle)
		out->root_path = xstrdup(json_string_value(v));
	else
		out->root_path = unik_path_join(bundle, json_string_value(v));

	linux_ = json_object_get(root, "linux");
	if (linux_ && !json_is_object(linux_)) {
		bad(err, "linux", "must be an object");
		goto out;
	}
	v = json_object_get(json_object_get(json_object_get(linux_, "resources"), "memory"),
	                    "limit");
	if (v && !json_is_integer(v)) {
		bad(err, "linux.resources.memory.limit", "must be an integer (bytes)");
		goto out;
	}
	out->memory_limit = v && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
	if (parse_namespaces(linux_, out, err) < 0 ||
	    parse_mounts(json_object_get(root, "mounts"), bundle, out, err) < 0 ||
	    parse_hooks(json_object_get(root, "hooks"), out, err) < 0)
		goto out;

	ann = json_object_get(root, "annotations");
	if (ann) {
		const char *k;

		if (!json_is_object(ann)) {
			bad(err, "annotations", "must be an object of strings");
			goto out;
		}
		json_object_foreach(ann, k, v)
		{
			if (!json_is_string(v)) {
				unik_error_set(err, UNIK_E_INVALID,
				               CFG ": annotation \"%s\" must be a string", k);
				goto out;
			}
		}
		json_decref(out->annotations);
		out->annotations = json_incref(ann);
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int oci_config_load(const char *bundle, struct oci_config *out, struct unik_error *err)
{
	_cleanup_free_ char *path = unik_path_join(bundle, CFG);
	_cleanup_free_ char *text = NULL;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (unik_read_file(path, &text, &len, err) < 0)
		return -1;
	return oci_config_parse(text, len, bundle, out, err);
}

char *oci_config_resolv_conf(const struct oci_config *c)
{
	char *p = NULL;

	if (c->resolv_mount)
		return xstrdup(c->resolv_mount);
	/* Resolved inside the root fs: an image's symbolic link must not reach the host's file. */
	if (oci_resolve_in_root(c->root_path, "/", &c->env, "/etc/resolv.conf", &p, NULL) < 0)
		return NULL;
	return p;
}

/* Whether QEMU's user may do what (R_OK, W_OK, X_OK bits) in a directory, by its mode bits.  An
 * ACL may still allow it; this only decides whether to warn. */
static bool vmm_may(const struct stat *st, const struct unik_vmm_user *u, int what)
{
	int shift = st->st_uid == u->uid ? 6 : st->st_gid == u->gid ? 3 : 0;
	int bits = (int)(st->st_mode >> shift) & 7;

	return (bits & what) == what;
}

/* QEMU reopens a share as its own user (docs/providers.md, "Shares"), so a directory that user
 * cannot search, or write when the share is writable, fails in the guest; say so at create. */
static void note_access(const struct oci_bind *b, const struct stat *st, struct strv *notes)
{
	struct unik_vmm_user u;

	if (unik_vmm_user_get(&u, NULL) < 0)
		return;
	if (!vmm_may(st, &u, R_OK | X_OK))
		strv_pushf(notes,
		           "%s (on %s) is closed to QEMU's user %u:%u (owner %u:%u, mode %04o): "
		           "the guest cannot read it; chown it or set UNIK_QEMU_USER",
		           b->source, b->destination, (unsigned)u.uid, (unsigned)u.gid,
		           (unsigned)st->st_uid, (unsigned)st->st_gid,
		           (unsigned)st->st_mode & 07777);
	else if (!b->readonly && !vmm_may(st, &u, W_OK | X_OK))
		strv_pushf(
		    notes,
		    "%s (on %s) is not writable by QEMU's user %u:%u (owner %u:%u, mode %04o): "
		    "the guest can only read it; chown it to that user to let it write",
		    b->source, b->destination, (unsigned)u.uid, (unsigned)u.gid,
		    (unsigned)st->st_uid, (unsigned)st->st_gid, (unsigned)st->st_mode & 07777);
}

int oci_config_shares(const struct oci_config *c, struct oci_shares *out, struct unik_error *err)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < c->nbinds; i++) {
		const struct oci_bind *b = &c->binds[i];
		struct unik_device *d;
		struct stat st;

		if (stat(b->source, &st) < 0) {
			unik_error_sys(err, errno, "bind mount of `%s` on %s", b->source,
			               b->destination);
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			strv_pushf(
			    &out->notes,
			    "%s is not mounted on %s in the guest: a unikernel gets host "
			    "directories only (a 9p share is a directory); bind the directory "
			    "that holds it instead",
			    b->source, b->destination);
			continue;
		}
		note_access(b, &st, &out->notes);
		strv_pushf(&out->names, "share%zu", out->n);
		out->devs = xrealloc(out->devs, (out->n + 1) * sizeof(*out->devs));
		d = &out->devs[out->n++];
		memset(d, 0, sizeof(*d));
		d->kind = UNIK_DEVICE_FS;
		d->path = b->source;
		d->mount = b->destination;
		d->readonly = b->readonly;
	}
	/* Named only now: pushing may move the names. */
	for (size_t i = 0; i < out->n; i++)
		out->devs[i].name = out->names.v[i];
	return 0;
}

void oci_shares_free(struct oci_shares *s)
{
	free(s->devs);
	strv_free(&s->names);
	strv_free(&s->notes);
	memset(s, 0, sizeof(*s));
}

const char *oci_config_annotation(const struct oci_config *c, const char *key)
{
	return json_string_value(json_object_get(c->annotations, key));
}

/* ---- the unik note ------------------------------------------------------------------------- */

/* Which file of a root fs is the kernel: one that lib/guest_elf.c reads as an ELF with the unik
 * note.  Whether it boots (its ABI version, its PVH note) is checked where it is started. */
bool oci_elf_buf_is_unik(const void *buf, size_t len)
{
	struct unik_guest_elf g;

	return unik_guest_elf_parse_mem(buf, len, "kernel", &g, NULL) == 0 && g.abi_version;
}

static bool fd_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
	int fd = *(int *)ctx;
	ssize_t n;

	if (off > (uint64_t)INT64_MAX)
		return false;
	do {
		n = pread(fd, buf, len, (off_t)off);
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)len;
}

int oci_elf_is_unik(const char *path, struct unik_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct unik_guest_elf g;
	struct stat st;

	if (fd < 0) {
		unik_error_sys(err, errno, "open `%s`", path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return unik_guest_elf_parse(fd_read_at, &fd, (uint64_t)st.st_size, path, &g, NULL) == 0 &&
	       g.abi_version;
}

/* ---- paths inside the root fs ---------------------------------------------------------------- */

#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif
struct unik_open_how {
	uint64_t flags, mode, resolve;
};

/* Opens path (absolute, as the container sees it) below root as O_PATH, resolving links inside
 * root.  -1 with errno on failure. */
static int open_in_root(int rootfd, const char *path)
{
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
#ifdef SYS_openat2
	struct unik_open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
	int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	if (fd >= 0 || errno != ENOSYS)
		return fd;
#endif
	return openat(rootfd, path, O_PATH | O_CLOEXEC);
}

static int try_path(int rootfd, const char *path, char **host)
{
	char link[64], target[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd = open_in_root(rootfd, path);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = S_ISDIR(st.st_mode) ? EISDIR : EACCES;
		return -1;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	target[n] = '\0';
	*host = xstrdup(target);
	return 0;
}

int oci_resolve_in_root(const char *root, const char *cwd, const struct strv *env, const char *name,
                        char **host, struct unik_error *err)
{
	_cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

	*host = NULL;
	if (rootfd < 0) {
		unik_error_sys(err, errno, "open the root file system `%s`", root);
		return -1;
	}
	if (strchr(name, '/')) {
		_cleanup_free_ char *p =
		    name[0] == '/' ? xstrdup(name) : unik_path_join(cwd ? cwd : "/", name);

		if (try_path(rootfd, p, host) == 0)
			return 0;
		unik_error_sys(err, errno, "`%s` in the root file system `%s`", name, root);
		return -1;
	}
	for (size_t i = 0; i < env->n; i++)
		if (unik_str_has_prefix(env->v[i], "PATH="))
			path = env->v[i] + 5;
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, ':');
		_cleanup_free_ char *dir = xstrndup(p, (size_t)(end - p));
		_cleanup_free_ char *cand = unik_path_join(dir[0] ? dir : ".", name);

		if (try_path(rootfd, cand, host) == 0)
			return 0;
		p = *end ? end + 1 : end;
	}
	unik_error_set(err, UNIK_E_NOTFOUND, "`%s` not found in PATH in the root file system `%s`",
	               name, root);
	return -1;
}

int oci_detect_kernel(const struct oci_config *c, char **kernel, struct unik_error *err)
{
	const char *ann = oci_config_annotation(c, OCI_ANNOTATION_KERNEL);
	_cleanup_free_ char *host = NULL;
	int r;

	*kernel = NULL;
	if (ann) {
		if (!ann[0]) {
			unik_error_set(err, UNIK_E_INVALID,
			               "annotation " OCI_ANNOTATION_KERNEL
			               " is empty: it names the kernel inside the root fs");
			return -1;
		}
		if (oci_resolve_in_root(c->root_path, c->cwd, &c->env, ann, &host, err) < 0) {
			unik_error_prefix(err,
			                  "unikernel kernel (annotation " OCI_ANNOTATION_KERNEL
			                  "=%s) is missing",
			                  ann);
			return -1;
		}
		r = oci_elf_is_unik(host, err);
		if (r < 0)
			return -1;
		if (r == 0) {
			unik_error_set(err, UNIK_E_INVALID,
			               "annotation " OCI_ANNOTATION_KERNEL
			               "=%s: `%s` is not a unik "
			               "kernel (no \"unik\" ELF note; build it with unik-cc)",
			               ann, host);
			return -1;
		}
		*kernel = unik_steal_ptr(&host);
		return 1;
	}
	/* No annotation: whatever args[0] is not (missing, a script, a Linux binary) is runc's. */
	if (oci_resolve_in_root(c->root_path, c->cwd, &c->env, c->args.v[0], &host, NULL) < 0)
		return 0;
	if (oci_elf_is_unik(host, NULL) != 1)
		return 0;
	*kernel = unik_steal_ptr(&host);
	return 1;
}

/* ---- the guest ----------------------------------------------------------------------------- */

int oci_guest_cmdline(const struct oci_config *c, char **out, struct unik_error *err)
{
	_cleanup_strv_ struct strv env = {0};
	_cleanup_strv_ struct strv argv = {0};
	const char *a0 = c->args.v[0];
	const char *slash = strrchr(a0, '/');

	for (size_t i = 0; i < c->env.n; i++) {
		const char *w = c->env.v[i];

		if (unik_str_has_prefix(w, "PATH=") || !unik_env_word_valid(w))
			continue;
		strv_push(&env, w);
	}
	strv_push(&argv, slash && slash[1] ? slash + 1 : a0);
	for (size_t i = 1; i < c->args.n; i++)
		strv_push(&argv, c->args.v[i]);
	if (unik_cmdline_compose(&env, &argv, out, err) < 0) {
		unik_error_prefix(err, "guest command line");
		return -1;
	}
	return 0;
}

int oci_guest_memory_mb(const struct oci_config *c, uint64_t *mb, struct unik_error *err)
{
	const char *ann = oci_config_annotation(c, OCI_ANNOTATION_MEMORY);
	const uint64_t mib = 1024 * 1024;

	if (c->memory_limit > 0) {
		*mb = ((uint64_t)c->memory_limit + mib - 1) / mib;
		if (*mb < 8) {
			unik_error_set(err, UNIK_E_INVALID,
			               "memory limit %" PRId64
			               " bytes is too small for a unikernel "
			               "(at least 8 MiB, e.g. --memory 64m)",
			               c->memory_limit);
			return -1;
		}
		return 0;
	}
	if (ann) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(ann, &end, 10);
		if (errno || end == ann || *end || ann[0] == '-' || v < 8 || v > 1024 * 1024) {
			unik_error_set(err, UNIK_E_INVALID,
			               "annotation " OCI_ANNOTATION_MEMORY
			               "=\"%s\" must be a number of "
			               "MiB between 8 and 1048576",
			               ann);
			return -1;
		}
		*mb = v;
		return 0;
	}
	*mb = OCI_DEFAULT_MEMORY_MB;
	return 0;
}
