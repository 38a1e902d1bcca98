/* Volumes (an ext2 disk under $UNIK_HOME/volumes/<id>/ that outlives instances, made with
 * e2fsprogs) and the mounts of instances: which volumes and host directories each mounts where,
 * chosen when it runs.  A volume is mounted read-write by at most one running instance. */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/store.h"
#include "lib/names.h"
#include "lib/unik_spawn.h"
#include "lib/untar.h"
#include "lib/utf8.h"
#include "unik/devices.h"

#define VOLUME_DISK "disk.raw"
#define MOUNTS_MAX  8

/* An e2fsprogs program: found in PATH, or in /sbin and /usr/sbin, which a user's PATH often
 * lacks.  NULL with err naming the package when it is nowhere. */
static char *e2fs_tool(const char *name, struct unik_error *err)
{
	static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
	const char *path = getenv("PATH");

	if (path) {
		_cleanup_free_ char *copy = xstrdup(path);
		char *save = NULL;

		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			char *p = unik_path_join(d, name);

			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = unik_path_join(dirs[i], name);

		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	unik_error_set(err, UNIK_E_UNSUPPORTED,
	               "%s is not installed: volumes need e2fsprogs (Debian: apt-get install "
	               "e2fsprogs)",
	               name);
	return NULL;
}

static struct unik_volume *find_volume_name(struct unik_core *c, const char *name)
{
	for (size_t i = 0; i < c->nvolumes; i++)
		if (strcmp(c->volumes[i]->name, name) == 0)
			return c->volumes[i];
	return NULL;
}

const struct unik_volume *unik_core_volume(struct unik_core *c, const char *ref,
                                           struct unik_error *err)
{
	return resolve_volume(c, ref, err);
}

static char *volume_disk(struct unik_core *c, const char *id)
{
	_cleanup_free_ char *dir = unik_path_join(c->volumes_dir, id);

	return unik_path_join(dir, VOLUME_DISK);
}

/* The bytes of the files under dir (for a volume's default size). */
static uint64_t tree_bytes(const char *dir)
{
	_cleanup_free_ char *out = NULL;
	const char *argv[] = {"du", "-sb", "--apparent-size", dir, NULL};
	struct unik_spawn_opts o = UNIK_SPAWN_OPTS_INIT;
	int status;

	o.stderr_fd = UNIK_SPAWN_DEVNULL;
	if (unik_spawn_capture(argv, &o, &out, NULL, &status, NULL) < 0 || status != 0)
		return 0;
	return strtoull(out, NULL, 10);
}

/* Runs an e2fsprogs program with argv (argv[0] its name), its output (both streams) into out
 * (NUL-terminated, newlines kept); *status its exit status.  -1 when it could not be run. */
static int e2fs_run(const char *const *argv, int *status, char out[], size_t outlen,
                    struct unik_error *err)
{
	_cleanup_free_ char *tool = e2fs_tool(argv[0], err);
	_cleanup_strv_ struct strv av = {0};
	struct unik_spawn_opts o = UNIK_SPAWN_OPTS_INIT;
	ssize_t n;
	int fd, rc;

	if (!tool)
		return -1;
	fd = memfd_create(argv[0], MFD_CLOEXEC);
	if (fd < 0) {
		unik_error_sys(err, errno, "memfd_create");
		return -1;
	}
	strv_push(&av, tool);
	for (size_t i = 1; argv[i]; i++)
		strv_push(&av, argv[i]);
	o.stdin_fd = UNIK_SPAWN_DEVNULL;
	o.stdout_fd = fd;
	o.stderr_fd = fd;
	rc = unik_spawn((const char *const *)strv_argv(&av), &o, status, err);
	n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	return rc;
}

/* Text for one line of an error: newlines as "; ", trailing ones dropped. */
static void one_line(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (char *p = s; *p; p++)
		if (*p == '\n')
			*p = ';';
}

/* An ext2 file system of size_mb MiB in disk, filled from data when not NULL. */
static int make_ext2(const char *disk, uint64_t size_mb, const char *data, struct unik_error *err)
{
	char size[32], out[1024];
	int status;
	/* -m 0: a data volume keeps no blocks for root.  -E root_owner: the guest's one user. */
	const char *argv[] = {"mke2fs",
	                      "-q",
	                      "-F",
	                      "-t",
	                      "ext2",
	                      "-m",
	                      "0",
	                      "-E",
	                      "root_owner=0:0",
	                      data ? "-d" : disk,
	                      data ? data : size,
	                      data ? disk : NULL,
	                      data ? size : NULL,
	                      NULL};

	snprintf(size, sizeof(size), "%lluM", (unsigned long long)size_mb);
	if (e2fs_run(argv, &status, out, sizeof(out), err) < 0)
		return -1;
	if (status != 0) {
		one_line(out);
		unik_error_set(err, UNIK_E_INVALID, "mke2fs failed (exit %d): %.*s", status,
		               UNIK_UTF8_CUT(out, 500));
		return -1;
	}
	return 0;
}

int unik_core_volume_create(struct unik_core *c, const struct unik_volume_request *vr,
                            const char *data_archive, struct unik_volume **out,
                            struct unik_error *err)
{
	_cleanup_free_ char *dir = NULL, *disk = NULL, *data = NULL;
	struct unik_volume *v;
	uint64_t size_mb = vr->size_mb;

	if (unik_name_check("volume", vr->name, err) < 0)
		return -1;
	if (vr->type && strcmp(vr->type, "ext2") != 0) {
		unik_error_set(err,
		               strcmp(vr->type, "fat") == 0 ? UNIK_E_UNSUPPORTED : UNIK_E_INVALID,
		               "volume type \"%.*s\": unik makes ext2 volumes only (the guest's "
		               "file system for volumes)",
		               UNIK_UTF8_CUT(vr->type, 40));
		return -1;
	}
	if (size_mb > 16u << 20) {
		unik_error_set(err, UNIK_E_INVALID, "volume size %llu MiB is over 16 TiB",
		               (unsigned long long)size_mb);
		return -1;
	}
	core_lock(c);
	if (find_volume_name(c, vr->name)) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_EXISTS, "volume \"%s\" exists", vr->name);
		return -1;
	}
	core_unlock(c);
	v = xcalloc(1, sizeof(*v));
	unik_new_id(v->id);
	v->name = xstrdup(vr->name);
	v->format = xstrdup("raw");
	if (mkdir(c->volumes_dir, 0700) < 0 && errno != EEXIST) {
		unik_error_sys(err, errno, "create %s", c->volumes_dir);
		goto fail;
	}
	dir = unik_path_join(c->volumes_dir, v->id);
	if (mkdir(dir, 0700) < 0) {
		unik_error_sys(err, errno, "create %s", dir);
		goto fail;
	}
	disk = unik_path_join(dir, VOLUME_DISK);
	if (data_archive) {
		struct unik_untar_limits lim = UNIK_UNTAR_LIMITS_DEFAULT;
		uint64_t need;

		lim.max_bytes = 8ull << 30;
		lim.max_files = 1000000;
		data = unik_path_join(dir, "data");
		if (mkdir(data, 0700) < 0) {
			unik_error_sys(err, errno, "create %s", data);
			goto fail;
		}
		if (unik_untar(data_archive, data, &lim, NULL, err) < 0) {
			unik_error_prefix(err, "volume \"%s\": its data", vr->name);
			goto fail;
		}
		/* What the files take, half as much again for ext2's own blocks and inodes,
		 * and 8 MiB. */
		need = (tree_bytes(data) * 3 / 2 + (8u << 20) + (1u << 20) - 1) >> 20;
		if (!size_mb)
			size_mb = need;
		else if (size_mb < need / 2) {
			unik_error_set(err, UNIK_E_INVALID,
			               "volume \"%s\": %llu MiB is too small for its data; give "
			               "--size %llu or more, or leave --size out",
			               vr->name, (unsigned long long)size_mb,
			               (unsigned long long)need);
			goto fail;
		}
	}
	if (!size_mb)
		size_mb = 64;
	if (size_mb < 2) {
		unik_error_set(err, UNIK_E_INVALID, "volume size %llu MiB: ext2 needs at least 2",
		               (unsigned long long)size_mb);
		goto fail;
	}
	if (make_ext2(disk, size_mb, data, err) < 0) {
		unik_error_prefix(err, "volume \"%s\"", vr->name);
		goto fail;
	}
	if (data)
		unik_rmtree(data, NULL);
	v->size_mb = size_mb;
	v->created = unik_now_rfc3339(3);
	core_lock(c);
	if (find_volume_name(c, vr->name)) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_EXISTS, "volume \"%s\" exists", vr->name);
		goto fail;
	}
	v->seq = ++c->seq;
	if (db_begin(c) < 0 || unik_store_put_volume(c->store, v, err) < 0 ||
	    db_commit(c, err) < 0) {
		db_rollback(c);
		core_unlock(c);
		goto fail;
	}
	c->volumes = xrealloc(c->volumes, (c->nvolumes + 1) * sizeof(*c->volumes));
	c->volumes[c->nvolumes++] = v;
	if (out)
		*out = unik_volume_dup(v);
	core_unlock(c);
	return 0;
fail:
	if (dir)
		unik_rmtree(dir, NULL);
	unik_volume_free(v);
	return -1;
}

/* Whether in mounts volume name. */
static const struct unik_mount *mount_of(const struct unik_instance *in, const char *name)
{
	for (size_t i = 0; i < in->nmounts; i++)
		if (in->mounts[i].volume && strcmp(in->mounts[i].volume, name) == 0)
			return &in->mounts[i];
	return NULL;
}

/* Takes mount k out of in. */
static void mount_drop(struct unik_instance *in, size_t k)
{
	free(in->mounts[k].volume);
	free(in->mounts[k].host_path);
	free(in->mounts[k].at);
	memmove(&in->mounts[k], &in->mounts[k + 1], (in->nmounts - k - 1) * sizeof(*in->mounts));
	in->nmounts--;
}

/* An instance that is (or may be about to be) running. */
static bool live(const struct unik_instance *in)
{
	return in->busy || !unik_instance_state_final(in->state);
}

int unik_core_volume_delete(struct unik_core *c, const char *ref, bool force,
                            struct unik_error *err)
{
	_cleanup_strv_ struct strv users = {0};
	_cleanup_free_ char *dir = NULL;
	struct unik_volume *v;

	core_lock(c);
	v = resolve_volume(c, ref, err);
	if (!v)
		goto fail;
	for (size_t i = 0; i < c->ninsts; i++) {
		const struct unik_instance *in = c->insts[i];

		if (!mount_of(in, v->name))
			continue;
		if (live(in)) {
			unik_error_set(
			    err, UNIK_E_STATE,
			    "volume \"%s\" is mounted by running instance %s: stop it first",
			    v->name, in->name);
			goto fail;
		}
		strv_push(&users, in->name);
	}
	if (users.n && !force) {
		_cleanup_free_ char *list = strv_join(&users, ", ");

		unik_error_set(
		    err, UNIK_E_STATE,
		    "volume \"%s\" is attached to instance(s) %.300s: remove them, detach "
		    "it, or delete it with -f (force)",
		    v->name, list);
		goto fail;
	}
	if (db_begin(c) < 0)
		goto fail_io;
	/* Taken out of the ended instances that name it, in the same transaction. */
	for (size_t i = 0; i < c->ninsts; i++) {
		struct unik_instance *in = c->insts[i];

		for (size_t k = 0; k < in->nmounts;) {
			if (in->mounts[k].volume && strcmp(in->mounts[k].volume, v->name) == 0) {
				mount_drop(in, k);
				if (db_put_instance(c, in, err) < 0) {
					db_rollback(c);
					goto fail;
				}
			} else {
				k++;
			}
		}
	}
	if (unik_store_del_volume(c->store, v->id, err) < 0 || db_commit(c, err) < 0) {
		db_rollback(c);
		goto fail;
	}
	for (size_t i = 0; i < c->nvolumes; i++)
		if (c->volumes[i] == v) {
			memmove(&c->volumes[i], &c->volumes[i + 1],
			        (c->nvolumes - i - 1) * sizeof(*c->volumes));
			c->nvolumes--;
			break;
		}
	dir = unik_path_join(c->volumes_dir, v->id);
	core_unlock(c);
	unik_rmtree(dir, NULL);
	unik_volume_free(v);
	return 0;
fail_io:
	unik_error_set(err, UNIK_E_IO, "the store is busy");
fail:
	core_unlock(c);
	return -1;
}

int unik_core_volume_open(struct unik_core *c, const char *ref, int *fd, uint64_t *size,
                          char **name, struct unik_error *err)
{
	_cleanup_free_ char *disk = NULL;
	struct unik_volume *v;
	struct stat st;

	core_lock(c);
	v = resolve_volume(c, ref, err);
	if (!v) {
		core_unlock(c);
		return -1;
	}
	for (size_t i = 0; i < c->ninsts; i++) {
		const struct unik_mount *m = mount_of(c->insts[i], v->name);

		if (m && !m->readonly && live(c->insts[i])) {
			unik_error_set(
			    err, UNIK_E_STATE,
			    "volume \"%s\" is mounted read-write by running instance %s: "
			    "stop it first, so the copy is consistent",
			    v->name, c->insts[i]->name);
			core_unlock(c);
			return -1;
		}
	}
	disk = volume_disk(c, v->id);
	*name = xstrdup(v->name);
	core_unlock(c);
	*fd = open(disk, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, &st) < 0) {
		unik_error_sys(err, errno, "open %s", disk);
		if (*fd >= 0)
			close(*fd);
		free(*name);
		*name = NULL;
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* The runtime's own file systems: a mount there or below would hide them. */
static const char *const reserved_mounts[] = {"/proc", "/dev", "/sys"};

/* Checks a mount point: absolute, not "/", no "..", not on or under the runtime's own file
 * systems, not given twice in in. */
static int at_check(const struct unik_instance *in, const char *at, struct unik_error *err)
{
	if (!at || at[0] != '/' || !at[1] || strstr(at, "/../") || strlen(at) > 200 ||
	    (strlen(at) >= 3 && strcmp(at + strlen(at) - 3, "/..") == 0)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "mount point \"%.*s\" must be an absolute path other than /, "
		               "without ..",
		               UNIK_UTF8_CUT(at ? at : "", 60));
		return -1;
	}
	for (size_t i = 0; i < sizeof(reserved_mounts) / sizeof(reserved_mounts[0]); i++) {
		size_t n = strlen(reserved_mounts[i]);

		if (strncmp(at, reserved_mounts[i], n) == 0 && (at[n] == '\0' || at[n] == '/')) {
			unik_error_set(err, UNIK_E_INVALID,
			               "mount point %.*s: %s is the runtime's own file system; "
			               "mount elsewhere",
			               UNIK_UTF8_CUT(at, 60), reserved_mounts[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < in->nmounts; i++)
		if (strcmp(in->mounts[i].at, at) == 0) {
			unik_error_set(err, UNIK_E_INVALID, "two mounts at %s", at);
			return -1;
		}
	return 0;
}

int mounts_check_free(struct unik_core *c, const struct unik_instance *in, struct unik_error *err)
{
	for (size_t k = 0; k < in->nmounts; k++) {
		const struct unik_mount *m = &in->mounts[k];

		if (!m->volume)
			continue;
		if (!find_volume_name(c, m->volume)) {
			unik_error_set(
			    err, UNIK_E_NOTFOUND,
			    "volume \"%s\" is gone (it was removed): detach it, or make it "
			    "again",
			    m->volume);
			return -1;
		}
		for (size_t i = 0; i < c->ninsts; i++) {
			const struct unik_instance *o = c->insts[i];
			const struct unik_mount *om = o == in ? NULL : mount_of(o, m->volume);

			if (!om || !live(o) || (om->readonly && m->readonly))
				continue;
			unik_error_set(
			    err, UNIK_E_STATE,
			    "volume \"%s\" is mounted by running instance %s%s: a volume "
			    "is attached read-write to one running instance at most "
			    "(stop it, or mount it :ro in both)",
			    m->volume, o->name, om->readonly ? " (read-only)" : "");
			return -1;
		}
	}
	return 0;
}

/* Parses "SOURCE:/path[:ro|:rw]" into m. */
static int mount_parse(struct unik_core *c, const struct unik_instance *in, const char *spec,
                       struct unik_mount *m, struct unik_error *err)
{
	_cleanup_free_ char *copy = xstrdup(spec);
	char *at = strchr(copy, ':'), *mode;

	memset(m, 0, sizeof(*m));
	if (!at || at == copy) {
		unik_error_set(err, UNIK_E_INVALID,
		               "volume \"%.*s\" is not VOLUME:/path[:ro] or /host/dir:/path[:ro]",
		               UNIK_UTF8_CUT(spec, 80));
		return -1;
	}
	*at++ = '\0';
	mode = strrchr(at, ':');
	if (mode) {
		*mode++ = '\0';
		if (strcmp(mode, "ro") == 0)
			m->readonly = true;
		else if (strcmp(mode, "rw") != 0) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "volume \"%.*s\": the mode after the mount point is ro or rw",
			    UNIK_UTF8_CUT(spec, 80));
			return -1;
		}
	}
	if (at_check(in, at, err) < 0)
		return -1;
	if (copy[0] == '/') {
		char real[PATH_MAX];
		struct stat st;

		if (!realpath(copy, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "host directory %.*s to share: %s on the daemon's host",
			               UNIK_UTF8_CUT(copy, 100),
			               errno == ENOENT ? "no such directory" : "not a directory");
			return -1;
		}
		m->host_path = xstrdup(real);
	} else {
		const struct unik_volume *v = resolve_volume(c, copy, err);

		if (!v) {
			if (err->code == UNIK_E_NOTFOUND)
				unik_error_set(
				    err, UNIK_E_NOTFOUND,
				    "no volume \"%.*s\" (see unik volumes; make it with unik "
				    "volume create)",
				    UNIK_UTF8_CUT(copy, 60));
			return -1;
		}
		if (mount_of(in, v->name)) {
			unik_error_set(err, UNIK_E_INVALID, "volume \"%s\" is mounted twice",
			               v->name);
			return -1;
		}
		m->volume = xstrdup(v->name);
	}
	m->at = xstrdup(at);
	return 0;
}

int mounts_assign(struct unik_core *c, struct unik_instance *in, const struct unik_run_request *rr,
                  struct unik_error *err)
{
	if (rr->volumes.n > MOUNTS_MAX) {
		unik_error_set(err, UNIK_E_INVALID, "%zu volumes: an instance mounts at most %d",
		               rr->volumes.n, MOUNTS_MAX);
		return -1;
	}
	for (size_t i = 0; i < rr->volumes.n; i++) {
		struct unik_mount m;

		if (mount_parse(c, in, rr->volumes.v[i], &m, err) < 0)
			return -1;
		in->mounts = xrealloc(in->mounts, (in->nmounts + 1) * sizeof(*in->mounts));
		in->mounts[in->nmounts++] = m;
	}
	return mounts_check_free(c, in, err);
}

int mounts_fsck(struct unik_core *c, const struct unik_instance *in,
                void (*note)(void *ctx, const char *line), void *ctx, struct unik_error *err)
{
	for (size_t k = 0; k < in->nmounts; k++) {
		const struct unik_mount *m = &in->mounts[k];
		_cleanup_free_ char *disk = NULL;
		char out[2048];
		int status;

		/* A read-only mount is not written: the guest mounts even a dirty disk read-only.
		 */
		if (!m->volume || m->readonly ||
		    !strncmp(m->at, BINDS_RAW_AT, strlen(BINDS_RAW_AT)))
			continue;
		core_lock(c);
		{
			const struct unik_volume *v = find_volume_name(c, m->volume);

			disk = v ? volume_disk(c, v->id) : NULL;
		}
		core_unlock(c);
		if (!disk) {
			unik_error_set(err, UNIK_E_NOTFOUND, "volume \"%s\" is gone", m->volume);
			return -1;
		}
		const char *argv[] = {"e2fsck", "-p", disk, NULL};

		if (e2fs_run(argv, &status, out, sizeof(out), err) < 0)
			return -1;
		/* 0: clean; 1: errors fixed; 2: fixed, and a reboot would be wanted (there is
		 * nothing mounted here to reboot); 4 and up: left unfixed, or e2fsck failed. */
		if (status == 1 || status == 2) {
			_cleanup_free_ char *line = NULL;

			one_line(out);
			line = xasprintf("e2fsck repaired volume %s: %.*s", m->volume,
			                 UNIK_UTF8_CUT(out, 900));
			if (note)
				note(ctx, line);
		} else if (status != 0) {
			one_line(out);
			unik_error_set(
			    err, UNIK_E_STATE,
			    "volume \"%s\" has errors that e2fsck -p cannot repair (exit "
			    "%d): %.*s; export it and run e2fsck -f on the copy",
			    m->volume, status, UNIK_UTF8_CUT(out, 400));
			return -1;
		}
	}
	return 0;
}

/* The attach job: e2fsck on the instance's writable volumes, each repair noted on its console
 * (through note) and reported as the job's progress. */
struct attach_args {
	struct unik_core *c;
	const struct unik_instance *in;
	void (*note)(void *ctx, const char *line);
	void *ctx;
	struct unik_job *job;
};

static void attach_note(void *arg, const char *line)
{
	struct attach_args *a = arg;

	unik_job_progress(a->job, "%s", line);
	if (a->note)
		a->note(a->ctx, line);
}

static int attach_job(void *arg, struct unik_job *job, struct unik_error *err)
{
	struct attach_args *a = arg;

	a->job = job;
	return mounts_fsck(a->c, a->in, attach_note, a, err);
}

int mounts_attach(struct unik_core *c, const struct unik_instance *in,
                  void (*note)(void *ctx, const char *line), void *ctx, struct unik_error *err)
{
	struct attach_args a = {c, in, note, ctx, NULL};

	if (in->nmounts == 0)
		return 0;
	return unik_jobs_run(c->jobs, UNIK_JOB_ATTACH, in->id, in->name, attach_job, &a, err);
}

size_t mounts_devices(struct unik_core *c, const struct unik_instance *in, struct unik_device *devs,
                      size_t max, struct strv *paths)
{
	size_t n = 0, nvol = 0, nshare = 0;

	for (size_t k = 0; k < in->nmounts && n < max; k++) {
		const struct unik_mount *m = &in->mounts[k];
		const struct unik_volume *v = m->volume ? find_volume_name(c, m->volume) : NULL;
		struct unik_device *d = &devs[n];

		if (m->volume && !v)
			continue; /* mounts_check_free said so before the run */
		memset(d, 0, sizeof(*d));
		if (v) {
			strv_pushf(paths, "vol%zu", nvol++);
			d->name = paths->v[paths->n - 1];
			d->kind = UNIK_DEVICE_BLK;
			strv_push_take(paths, volume_disk(c, v->id));
			d->path = paths->v[paths->n - 1];
			d->format = "raw";
		} else {
			strv_pushf(paths, "share%zu", nshare++);
			d->name = paths->v[paths->n - 1];
			d->kind = UNIK_DEVICE_FS;
			d->path = m->host_path;
		}
		d->mount = m->at;
		d->readonly = m->readonly;
		n++;
	}
	return n;
}

int unik_core_volume_attach(struct unik_core *c, const char *vref, const char *iref, const char *at,
                            bool readonly, struct unik_error *err)
{
	struct unik_instance *in;
	struct unik_volume *v;
	struct unik_mount m = {0};

	core_lock(c);
	v = resolve_volume(c, vref, err);
	in = v ? resolve_instance(c, iref, err) : NULL;
	if (!in)
		goto fail;
	if (live(in)) {
		unik_error_set(err, UNIK_E_STATE,
		               "instance %s is running: stop it first (a volume is attached for "
		               "its next start), or give it with unik run -v",
		               in->name);
		goto fail;
	}
	if (mount_of(in, v->name)) {
		unik_error_set(err, UNIK_E_EXISTS, "volume \"%s\" is attached to %s already",
		               v->name, in->name);
		goto fail;
	}
	if (at_check(in, at, err) < 0)
		goto fail;
	m.volume = xstrdup(v->name);
	m.at = xstrdup(at);
	m.readonly = readonly;
	in->mounts = xrealloc(in->mounts, (in->nmounts + 1) * sizeof(*in->mounts));
	in->mounts[in->nmounts++] = m;
	if (save_instance(c, in, err) < 0) {
		in->nmounts--;
		free(m.volume);
		free(m.at);
		goto fail;
	}
	core_unlock(c);
	return 0;
fail:
	core_unlock(c);
	return -1;
}

int unik_core_volume_detach(struct unik_core *c, const char *vref, struct unik_error *err)
{
	struct unik_volume *v;
	size_t detached = 0;

	core_lock(c);
	v = resolve_volume(c, vref, err);
	if (!v)
		goto fail;
	for (size_t i = 0; i < c->ninsts; i++)
		if (mount_of(c->insts[i], v->name) && live(c->insts[i])) {
			unik_error_set(
			    err, UNIK_E_STATE,
			    "volume \"%s\" is mounted by running instance %s: stop it first",
			    v->name, c->insts[i]->name);
			goto fail;
		}
	for (size_t i = 0; i < c->ninsts; i++) {
		struct unik_instance *in = c->insts[i];

		for (size_t k = 0; k < in->nmounts; k++)
			if (in->mounts[k].volume && strcmp(in->mounts[k].volume, v->name) == 0) {
				mount_drop(in, k);
				if (save_instance(c, in, err) < 0)
					goto fail;
				detached++;
				break;
			}
	}
	if (!detached) {
		unik_error_set(err, UNIK_E_STATE, "volume \"%s\" is not attached to any instance",
		               v->name);
		goto fail;
	}
	core_unlock(c);
	return 0;
fail:
	core_unlock(c);
	return -1;
}
