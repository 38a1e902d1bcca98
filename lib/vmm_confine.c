/* Confining QEMU before exec: files opened as root and handed over as descriptors, then an
 * unprivileged uid/gid, no capabilities, no_new_privs (see vmm_confine.h). */
#include "lib/vmm_confine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/util.h"

static int parse_id(const char *s, size_t len, unsigned long *out)
{
	unsigned long v = 0;

	if (len == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return -1;
	*out = v;
	return 0;
}

int unik_vmm_user_parse(const char *spec, struct unik_vmm_user *u, struct unik_error *err)
{
	const char *colon = spec ? strchr(spec, ':') : NULL;
	unsigned long uid, gid;

	if (!spec || !*spec) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s is empty: give UID:GID or a user name (default %s)",
		               UNIK_QEMU_USER_ENV, UNIK_QEMU_USER_DEFAULT);
		return -1;
	}
	if (colon) {
		if (parse_id(spec, (size_t)(colon - spec), &uid) < 0 ||
		    parse_id(colon + 1, strlen(colon + 1), &gid) < 0) {
			unik_error_set(err, UNIK_E_INVALID,
			               "%s=\"%.60s\": expected UID:GID in numbers, e.g. %s",
			               UNIK_QEMU_USER_ENV, spec, UNIK_QEMU_USER_DEFAULT);
			return -1;
		}
	} else {
		struct passwd *pw = getpwnam(spec);

		if (!pw) {
			unik_error_set(err, UNIK_E_INVALID,
			               "%s=\"%.60s\": no such user (give UID:GID, e.g. %s)",
			               UNIK_QEMU_USER_ENV, spec, UNIK_QEMU_USER_DEFAULT);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (uid == 0 || gid == 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s=\"%.60s\" would run QEMU as root: pick an unprivileged user "
		               "that owns no files, e.g. %s",
		               UNIK_QEMU_USER_ENV, spec, UNIK_QEMU_USER_DEFAULT);
		return -1;
	}
	u->uid = (uid_t)uid;
	u->gid = (gid_t)gid;
	return 0;
}

int unik_vmm_user_get(struct unik_vmm_user *u, struct unik_error *err)
{
	const char *env = getenv(UNIK_QEMU_USER_ENV);

	return unik_vmm_user_parse(env ? env : UNIK_QEMU_USER_DEFAULT, u, err);
}

bool unik_vmm_can_read(const struct stat *st, const struct unik_vmm_user *u)
{
	if (st->st_uid == u->uid)
		return st->st_mode & S_IRUSR;
	if (st->st_gid == u->gid)
		return st->st_mode & S_IRGRP;
	return st->st_mode & S_IROTH;
}

bool unik_vmm_kvm_open_to(const struct stat *st, const struct unik_vmm_user *u)
{
	const mode_t rw_usr = S_IRUSR | S_IWUSR, rw_grp = S_IRGRP | S_IWGRP,
	             rw_oth = S_IROTH | S_IWOTH;

	if (!S_ISCHR(st->st_mode))
		return false;
	if (st->st_uid == u->uid && (st->st_mode & rw_usr) == rw_usr)
		return true;
	/* A group other than root's is kept as a supplementary one (unik_vmm_confine_child). */
	if (st->st_gid != 0 && (st->st_mode & rw_grp) == rw_grp)
		return true;
	return (st->st_mode & rw_oth) == rw_oth;
}

bool unik_vmm_can_open_kvm(const struct unik_vmm_user *u)
{
	struct stat st;

	if (!u)
		return access("/dev/kvm", R_OK | W_OK) == 0;
	return stat("/dev/kvm", &st) == 0 && unik_vmm_kvm_open_to(&st, u);
}

int unik_vmm_place_file(const char *src, const char *dir, const char *name,
                        const struct unik_vmm_user *u, struct unik_error *err)
{
	_cleanup_free_ char *dst = unik_path_join(dir, name);
	_cleanup_close_ int in = -1, out = -1;
	char buf[65536];
	ssize_t n;

	(void)unlink(dst);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		unik_error_sys(err, errno, "open `%s`", src);
		return -1;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		unik_error_sys(err, errno, "create `%s`", dst);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || unik_write_all(out, buf, (size_t)n) < 0) {
			unik_error_sys(err, errno, "copy `%s` to `%s`", src, dst);
			return -1;
		}
	}
	if (fchown(out, 0, u->gid) < 0 || fchmod(out, 0640) < 0) {
		unik_error_sys(err, errno, "give `%s` to group %u", dst, (unsigned)u->gid);
		return -1;
	}
	return 0;
}

/* A sealed in-memory copy of fd, readable by anyone who holds it (memfds are mode 0777). */
static int memfd_copy(int fd)
{
	char buf[65536];
	int m = (int)syscall(SYS_memfd_create, "unik-vmm-file", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ssize_t n;

	if (m < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || unik_write_all(m, buf, (size_t)n) < 0) {
			close(m);
			return -1;
		}
	}
	(void)fcntl(m, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
	return m;
}

/* Opens path for u as descriptor target (not close-on-exec). */
static int open_as(const char *path, int target, const struct unik_vmm_user *u)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), use;
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	use = fd;
	/* Opened again through /proc/self/fd, which checks the file's mode, not the path's:
	 * $UNIK_HOME stays closed. */
	if (u && !unik_vmm_can_read(&st, u)) {
		use = memfd_copy(fd);
		close(fd);
		if (use < 0)
			return -1;
	}
	if (use == target)
		return fcntl(use, F_SETFD, 0);
	if (dup2(use, target) < 0) {
		close(use);
		return -1;
	}
	close(use);
	return 0;
}

static const char *const fd_modes[] = {"ro", "rw", "dir", "tap", "rawtap"};

int unik_vmm_fd_parse(const char *spec, struct unik_vmm_fd *f, struct unik_error *err)
{
	char *end;
	long n = strtol(spec, &end, 10);
	const char *mode = end + 1, *colon;

	if (end == spec || *end != ':' || n < UNIK_VMM_FD_DEVICES ||
	    n >= UNIK_VMM_FD_DEVICES + UNIK_VMM_FD_DEVICES_MAX || !(colon = strchr(mode, ':')) ||
	    !colon[1]) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "device descriptor `%s`: expected N:ro|rw|dir|tap|rawtap:PATH with N from %d "
		    "to %d",
		    spec, UNIK_VMM_FD_DEVICES, UNIK_VMM_FD_DEVICES + UNIK_VMM_FD_DEVICES_MAX - 1);
		return -1;
	}
	for (size_t m = 0; m < sizeof(fd_modes) / sizeof(fd_modes[0]); m++) {
		if (strlen(fd_modes[m]) == (size_t)(colon - mode) &&
		    !strncmp(mode, fd_modes[m], (size_t)(colon - mode))) {
			f->target = (int)n;
			f->mode = (enum unik_vmm_fd_mode)m;
			f->path = colon + 1;
			return 0;
		}
	}
	unik_error_set(err, UNIK_E_INVALID,
	               "device descriptor `%s`: the mode is not ro, rw, dir or tap", spec);
	return -1;
}

char *unik_vmm_fd_format(const struct unik_vmm_fd *f)
{
	return xasprintf("%d:%s:%s", f->target, fd_modes[f->mode], f->path);
}

/* /dev/net/tun attached to the tap named name, as QEMU would attach it for ifname=: no packet
 * information header, and the virtio-net header when the kernel offers it. */
static int open_tap(const char *name, bool vnet_hdr)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (strlen(name) >= sizeof(ifr.ifr_name)) {
		close(fd);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Opens a device's backing as root, for QEMU to use as it is (files, taps) or reopen
 * (directories). */
static int open_device(const struct unik_vmm_fd *f)
{
	static const int flags[] = {O_RDONLY, O_RDWR, O_RDONLY | O_DIRECTORY};
	int fd = f->mode == UNIK_VMM_FD_TAP      ? open_tap(f->path, true)
	         : f->mode == UNIK_VMM_FD_RAWTAP ? open_tap(f->path, false)
	                                         : open(f->path, flags[f->mode] | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fd == f->target)
		return fcntl(fd, F_SETFD, 0);
	if (dup2(fd, f->target) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

static int listen_at(const char *path, int target)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 8) < 0 || dup2(fd, target) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

/* The bounding set empty; it takes CAP_SETPCAP, so without it this drops nothing. */
static void drop_bounding(void)
{
	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
			break;
}

/* The ambient, effective, permitted and inheritable sets empty. */
static int drop_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];

	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof(data));
	return (int)syscall(SYS_capset, &hdr, data);
}

/* Directories QEMU never needs, hidden under empty read-only tmpfs mounts in a mount namespace
 * of its own: the world-writable ones (nothing to stash or race in), the homes ($UNIK_HOME is
 * under /root by default) and /run (other daemons' sockets). */
static const char *const hidden_dirs[] = {"/tmp", "/var/tmp", "/dev/shm", "/run", "/home", "/root"};

/* Best effort: a kernel or container that refuses a new mount namespace leaves QEMU with the
 * rest of its confinement, which does not depend on this. */
static void hide_host_dirs(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return;
	for (size_t i = 0; i < sizeof(hidden_dirs) / sizeof(hidden_dirs[0]); i++)
		(void)mount("unik-empty", hidden_dirs[i], "tmpfs",
		            MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0755");
}

int unik_vmm_confine_child(const struct unik_vmm_files *f, const struct unik_vmm_user *u,
                           const char **what)
{
	struct stat kvm;
	gid_t groups[1];
	size_t ngroups = 0;

	if (geteuid() != 0)
		u = NULL; /* nothing to give up but capabilities */
	if (f->qmp && listen_at(f->qmp, UNIK_VMM_FD_QMP) < 0) {
		*what = "create the QMP socket";
		return -1;
	}
	if (f->kernel && open_as(f->kernel, UNIK_VMM_FD_KERNEL, u) < 0) {
		*what = "open the kernel";
		return -1;
	}
	if (f->initrd && open_as(f->initrd, UNIK_VMM_FD_INITRD, u) < 0) {
		*what = "open the initrd";
		return -1;
	}
	for (size_t i = 0; i < f->nfds; i++) {
		if (open_device(&f->fds[i]) < 0) {
			*what = f->fds[i].mode == UNIK_VMM_FD_TAP ||
			                f->fds[i].mode == UNIK_VMM_FD_RAWTAP
			            ? "open a NIC's tap"
			            : "open a device's disk or directory";
			return -1;
		}
	}
	if (u) {
		/* After the files are open: the instance directory may be among those hidden. */
		hide_host_dirs();
		/* QEMU opens /dev/kvm itself (mode 0660, group kvm). */
		if (stat("/dev/kvm", &kvm) == 0 && kvm.st_gid != 0)
			groups[ngroups++] = kvm.st_gid;
		if (setgroups(ngroups, groups) < 0) {
			*what = "set the supplementary groups";
			return -1;
		}
		if (setresgid(u->gid, u->gid, u->gid) < 0) {
			*what = "set the group id";
			return -1;
		}
	}
	/* Bounding set first: dropping it needs CAP_SETPCAP, which setresuid takes away. */
	drop_bounding();
	if (u) {
		if (setresuid(u->uid, u->uid, u->uid) < 0) {
			*what = "set the user id";
			return -1;
		}
	}
	if (drop_caps() < 0) {
		*what = "drop the capabilities";
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*what = "set no_new_privs";
		return -1;
	}
	return 0;
}
