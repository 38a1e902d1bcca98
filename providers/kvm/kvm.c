/* The kvm provider: each instance is one libvirt domain (KVM, or QEMU's TCG where libvirt offers
 * no KVM) that boots the kernel ELF directly.  The instance directory records which domain
 * (provider.state), so any daemon process, including one started later, adopts it; a domain is
 * only ever stopped or removed when its unik <metadata> names the same instance. */
#include "providers/kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "lib/guest_console.h"
#include "lib/kv.h"
#include "lib/vmm_confine.h"

/* What provider.state holds. */
struct kvm_record {
	char instance_id[64];
	char uri[512];
	char domain[128];
	char uuid[VIR_UUID_STRING_BUFLEN];
	int connect_timeout_ms;
	char ip[64]; /* the first NIC's address, without its prefix; "" when none */
};

static const char *opt_uri(const char *const *opts)
{
	const char *u = unik_provider_opt(opts, "uri");

	return u && *u ? u : KVM_DEFAULT_URI;
}

/* Whole seconds in 1..max, or -1. */
static int parse_seconds(const char *v, int max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 1 || n > max)
		return -1;
	return (int)n;
}

/* Option connect_timeout in ms; -1 with err set when it is not whole seconds in range. */
static int opt_connect_timeout(const char *const *opts, struct unik_error *err)
{
	const char *v = unik_provider_opt(opts, "connect_timeout");
	int n;

	if (!v || !*v)
		return KVM_DEFAULT_CONNECT_TIMEOUT * 1000;
	if ((n = parse_seconds(v, KVM_MAX_CONNECT_TIMEOUT)) < 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "kvm: connect_timeout=%s: want whole seconds, 1 to %d", v,
		               KVM_MAX_CONNECT_TIMEOUT);
		return -1;
	}
	return n * 1000;
}

/* ---- the instance directory ----------------------------------------------------------------- */

/* 1 with *r filled, 0 when the directory has no record (nothing was defined), -1 on error. */
static int read_record(const char *dir, struct kvm_record *r, struct unik_error *err)
{
	_cleanup_free_ char *path = unik_path_join(dir, KVM_STATE_FILE);
	_cleanup_free_ char *text = NULL;
	struct stat sb;
	char seconds[16];
	int n;

	memset(r, 0, sizeof(*r));
	if (stat(dir, &sb) < 0) {
		unik_error_sys(err, errno, "kvm: instance directory `%s`", dir);
		return -1;
	}
	if (unik_read_file(path, &text, NULL, NULL) < 0)
		return 0;
	unik_kv_get(text, "instance_id", r->instance_id, sizeof(r->instance_id));
	unik_kv_get(text, "uri", r->uri, sizeof(r->uri));
	unik_kv_get(text, "domain", r->domain, sizeof(r->domain));
	unik_kv_get(text, "uuid", r->uuid, sizeof(r->uuid));
	unik_kv_get(text, "ip", r->ip, sizeof(r->ip));
	/* Records written before connect_timeout existed have none. */
	r->connect_timeout_ms = KVM_DEFAULT_CONNECT_TIMEOUT * 1000;
	if (unik_kv_get(text, "connect_timeout", seconds, sizeof(seconds)) &&
	    (n = parse_seconds(seconds, KVM_MAX_CONNECT_TIMEOUT)) > 0)
		r->connect_timeout_ms = n * 1000;
	if (!r->uri[0] || !r->uuid[0] || !r->domain[0]) {
		unik_error_set(err, UNIK_E_INTERNAL, "kvm: `%s` lacks uri, domain or uuid", path);
		return -1;
	}
	return 1;
}

/* A new run (first or restart): forget how the previous one ended, and note where its output
 * begins in the console log it appends to (unik_console_read_end reads only from there). */
static int forget_previous_run(const char *dir, struct unik_error *err)
{
	_cleanup_free_ char *console = unik_path_join(dir, UNIK_CONSOLE_FILE);
	_cleanup_free_ char *stopped = unik_path_join(dir, KVM_STOPPED_FILE);
	struct stat sb;
	char text[32];

	if (unlink(stopped) < 0 && errno != ENOENT) {
		unik_error_sys(err, errno, "kvm: remove `%s`", stopped);
		return -1;
	}
	snprintf(text, sizeof(text), "%lld\n",
	         stat(console, &sb) == 0 ? (long long)sb.st_size : 0LL);
	return unik_write_text_in(dir, UNIK_CONSOLE_START_FILE, text, err);
}

/* QEMU runs as an unprivileged user (kvm_user) that cannot reach $UNIK_HOME (0700, and
 * by default under /root), and libvirt hands QEMU its files by path: so each instance gets a
 * directory of its own under KVM_VM_ROOT (0711: nothing to list) that only root and that user's
 * group can enter, holding copies of its kernel, initrd and disk, which libvirt relabels. */
#define KVM_VM_ROOT     "/var/lib/unik-vm"
#define KVM_VM_ROOT_ENV "UNIK_VM_DIR"

/* libvirt's own unprivileged QEMU user (qemu.conf "user"), which alone may enter libvirt's
 * per-domain directories: $UNIK_KVM_USER, else libvirt-qemu (Debian) or qemu (Fedora).  Its
 * group is the group of the same name, else its primary group. */
#define KVM_USER_ENV "UNIK_KVM_USER"

static int kvm_user(struct unik_vmm_user *u, struct unik_error *err)
{
	static const char *const names[] = {"libvirt-qemu", "qemu"};
	const char *env = getenv(KVM_USER_ENV);
	struct passwd *pw = NULL;
	struct group *gr;

	for (size_t i = 0; !pw && i < (env ? 1 : sizeof(names) / sizeof(names[0])); i++)
		pw = getpwnam(env ? env : names[i]);
	if (!pw || pw->pw_uid == 0) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "kvm: %s%s%s is not an unprivileged user here: set %s to the user "
		               "libvirt runs QEMU as (qemu.conf \"user\")",
		               env ? "\"" : "", env ? env : "neither libvirt-qemu nor qemu",
		               env ? "\"" : "", KVM_USER_ENV);
		return -1;
	}
	gr = getgrnam(pw->pw_name);
	u->uid = pw->pw_uid;
	u->gid = gr && gr->gr_gid != 0 ? gr->gr_gid : pw->pw_gid;
	return 0;
}

static const char *vm_root(void)
{
	const char *e = getenv(KVM_VM_ROOT_ENV);

	return e && *e == '/' ? e : KVM_VM_ROOT;
}

/* Names of the files in an instance's VM directory. */
static const char *const vm_names[] = {"kernel", "initrd", "disk"};

/* Makes <root>/<instance id> afresh holding src[i] (NULL: none) as vm_names[i], and replaces
 * each src[i] with its path there (the old string is freed).  *vmdir gets the directory. */
static int prepare_vm_dir(const char *instance_id, const struct unik_vmm_user *u, char *src[3],
                          char **vmdir, struct unik_error *err)
{
	_cleanup_free_ char *d = unik_path_join(vm_root(), instance_id);
	struct unik_error e2;

	if (mkdir(vm_root(), 0711) < 0 && errno != EEXIST) {
		unik_error_sys(err, errno, "kvm: create `%s` (set %s to another directory)",
		               vm_root(), KVM_VM_ROOT_ENV);
		return -1;
	}
	(void)unik_rmtree(d, &e2);
	if (mkdir(d, 0750) < 0 || chown(d, 0, u->gid) < 0) {
		unik_error_sys(err, errno, "kvm: create `%s`", d);
		return -1;
	}
	for (size_t i = 0; i < 3; i++) {
		if (!src[i])
			continue;
		if (unik_vmm_place_file(src[i], d, vm_names[i], u, err) < 0) {
			unik_error_prefix(err, "kvm");
			(void)unik_rmtree(d, &e2);
			return -1;
		}
		free(src[i]);
		src[i] = unik_path_join(d, vm_names[i]);
	}
	*vmdir = unik_steal_ptr(&d);
	return 0;
}

static void remove_vm_dir(const char *dir)
{
	_cleanup_free_ char *path = unik_path_join(dir, KVM_STATE_FILE);
	_cleanup_free_ char *text = NULL;
	char vmdir[4096];
	size_t len;

	struct unik_error e2;

	if (unik_read_file(path, &text, &len, NULL) == 0 &&
	    unik_kv_get(text, "vm_dir", vmdir, sizeof(vmdir)) && vmdir[0] == '/')
		(void)unik_rmtree(vmdir, &e2);
}

/* QEMU's PID from libvirt's pid file, for a local system daemon; 0 when unknown. */
static pid_t domain_pid(const struct kvm_record *r)
{
	_cleanup_free_ char *path = NULL, *text = NULL;

	if (strncmp(r->uri, "qemu:///system", 14))
		return 0;
	path = xasprintf("/run/libvirt/qemu/%s.pid", r->domain);
	if (unik_read_file(path, &text, NULL, NULL) < 0)
		return 0;
	return (pid_t)atoi(text);
}

/* Whether QEMU's process has ended (gone, or a zombie that the host has not reaped yet): libvirt
 * reports the domain shut off only once the PID is gone, which a slow init delays by seconds. */
static bool pid_ended(pid_t pid)
{
	char path[64], buf[512];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	const char *paren;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] == 'Z';
}

static void fill_handle(const struct kvm_record *r, struct unik_instance_status *st)
{
	snprintf(st->handle, sizeof(st->handle), "%s", r->domain);
	snprintf(st->handle_id, sizeof(st->handle_id), "%s", r->uuid);
	snprintf(st->ip, sizeof(st->ip), "%s", r->ip);
}

/* The address the guest takes on its first NIC (the device's ip without its prefix), as status
 * reports it; "" when the first NIC has none (DHCP) or there is no NIC. */
static void first_nic_ip(const struct unik_device *devs, size_t n, char *ip, size_t len)
{
	ip[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (devs[i].kind != UNIK_DEVICE_NET)
			continue;
		if (devs[i].ip)
			snprintf(ip, len, "%.*s", (int)strcspn(devs[i].ip, "/"), devs[i].ip);
		return;
	}
}

/* ---- libvirt helpers ------------------------------------------------------------------------ */

static int last_code(void)
{
	virErrorPtr e = virGetLastError();

	return e ? e->code : 0;
}

/* The domain of a record; NULL with *gone set when libvirt no longer has it. */
static virDomainPtr lookup(struct kvm_conn *c, const struct kvm_record *r, bool *gone,
                           struct unik_error *err)
{
	virDomainPtr dom = virDomainLookupByUUIDString(c->conn, r->uuid);

	*gone = false;
	if (dom)
		return dom;
	if (last_code() == VIR_ERR_NO_DOMAIN) {
		*gone = true;
		return NULL;
	}
	unik_error_set(err, UNIK_E_IO, "kvm: look up domain %s (%s): %s", r->domain, r->uuid,
	               kvm_last_error());
	return NULL;
}

/* Whether dom carries unik's metadata for instance id: unik acts on no other domain. */
static int check_ours(virDomainPtr dom, const struct kvm_record *r, struct unik_error *err)
{
	_cleanup_free_ char *meta =
	    virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, KVM_XMLNS, 0);
	_cleanup_free_ char *id = kvm_xml_attr(meta, "id");

	if (id && r->instance_id[0] && !strcmp(id, r->instance_id))
		return 0;
	unik_error_set(err, UNIK_E_STATE,
	               "kvm: domain %s (%s) is not unik's instance %s (its unik metadata %s); "
	               "leaving it alone",
	               r->domain, r->uuid, r->instance_id[0] ? r->instance_id : "?",
	               id ? "names another instance" : "is missing");
	return -1;
}

static const char *shutoff_reason(int reason)
{
	switch (reason) {
	case VIR_DOMAIN_SHUTOFF_SHUTDOWN:
		return "shut down";
	case VIR_DOMAIN_SHUTOFF_DESTROYED:
		return "destroyed";
	case VIR_DOMAIN_SHUTOFF_CRASHED:
		return "crashed";
	case VIR_DOMAIN_SHUTOFF_FAILED:
		return "failed to start";
	default:
		return "shut off";
	}
}

/* ---- status -------------------------------------------------------------------------------- */

static void ended_status(const char *dir, const char *why, struct unik_instance_status *st);

/* A running domain, unless its QEMU has already ended with the guest's exit line on the
 * console: then that is the state, seconds before libvirt gets to say so. */
static void running_status(const char *dir, const struct kvm_record *r,
                           struct unik_instance_status *st)
{
	pid_t pid = domain_pid(r);

	if (pid_ended(pid)) {
		struct unik_console_end con;

		unik_console_read_end(dir, &con);
		if (con.exit_status >= 0 || con.crashed) {
			ended_status(dir, "", st);
			return;
		}
	}
	st->state = UNIK_STATE_RUNNING;
	st->pid = pid;
}

/* The state of an instance whose domain is not running, from its console and records. */
static void ended_status(const char *dir, const char *why, struct unik_instance_status *st)
{
	st->pid = 0;
	if (unik_status_from_console(dir, unik_file_exists_in(dir, KVM_STOPPED_FILE), st))
		return;
	st->state = UNIK_STATE_CRASHED;
	st->exit_code = -1;
	unik_status_detail(st, "%s, without an exit status from the guest", why);
}

static void status_init(struct unik_instance_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = UNIK_STATE_PENDING;
	st->exit_code = -1;
}

static int kvm_status(void *ctx, const char *dir, struct unik_instance_status *st,
                      struct unik_error *err)
{
	(void)ctx;
	struct kvm_record r;
	struct kvm_conn c;
	virDomainPtr dom;
	unsigned long gen;
	int state = 0, reason = 0, rc;
	bool gone;
	char why[200];

	status_init(st);
	rc = read_record(dir, &r, err);
	if (rc <= 0)
		return rc; /* 0: nothing defined here (yet, or ever): pending */
	fill_handle(&r, st);
	/* QEMU gone with the guest's last word on the console: ended, whatever libvirt (busy
	 * tearing the domain down, and holding it locked meanwhile) would answer later. */
	if (pid_ended(domain_pid(&r))) {
		struct unik_console_end con;

		unik_console_read_end(dir, &con);
		if (con.exit_status >= 0 || con.crashed) {
			ended_status(dir, "", st);
			return 0;
		}
	}
	if (kvm_conn_get(r.uri, r.connect_timeout_ms, &c, err) < 0) {
		struct unik_console_end con;

		/* The guest's last word settles it even while libvirtd is away. */
		unik_console_read_end(dir, &con);
		if (con.crashed || con.exit_status >= 0) {
			ended_status(dir, "", st);
			return 0;
		}
		return -1;
	}
	gen = kvm_event_gen();
	if (kvm_event_state(r.uuid) == 1) {
		/* The lifecycle events say it runs: no round trip to libvirtd. */
		kvm_conn_put(&c);
		running_status(dir, &r, st);
		return 0;
	}
	dom = lookup(&c, &r, &gone, err);
	if (!dom) {
		kvm_conn_put(&c);
		if (!gone)
			return -1;
		snprintf(why, sizeof(why), "domain %s no longer exists", r.domain);
		ended_status(dir, why, st);
		return 0;
	}
	rc = virDomainGetState(dom, &state, &reason, 0);
	if (rc < 0) {
		unik_error_set(err, UNIK_E_IO, "kvm: state of domain %s: %s", r.domain,
		               kvm_last_error());
		virDomainFree(dom);
		kvm_conn_put(&c);
		return -1;
	}
	virDomainFree(dom);
	kvm_conn_put(&c);
	switch (state) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
	case VIR_DOMAIN_PAUSED:
	case VIR_DOMAIN_SHUTDOWN: /* going down: still running until libvirt says otherwise */
	case VIR_DOMAIN_PMSUSPENDED:
		kvm_event_note(r.uuid, 1, gen);
		running_status(dir, &r, st);
		return 0;
	default:
		kvm_event_note(r.uuid, 0, gen);
		snprintf(why, sizeof(why), "domain %s %s", r.domain,
		         state == VIR_DOMAIN_SHUTOFF ? shutoff_reason(reason) : "ended");
		ended_status(dir, why, st);
		return 0;
	}
}

/* ---- run and start ------------------------------------------------------------------------- */

/* Boots a defined domain; on failure err has libvirt's message (QEMU's, for a bad kernel). */
static bool wait_inactive(virDomainPtr dom, int timeout_ms);

static int create(const char *dir, virDomainPtr dom, const struct kvm_record *r,
                  struct unik_instance_status *st, struct unik_error *err)
{
	unsigned long gen = kvm_event_gen();

	fill_handle(r, st);
	for (int attempt = 1;; attempt++) {
		struct unik_console_end con;
		const char *msg;

		/* Created paused, then resumed: libvirt finishes its start-up before the guest
		 * runs.  Otherwise a guest that is done within a few milliseconds (KVM) ends before
		 * libvirt's last start-up steps, and libvirt calls the start failed after waiting
		 * for QEMU to go. */
		if (virDomainCreateWithFlags(dom, VIR_DOMAIN_START_PAUSED) == 0 &&
		    virDomainResume(dom) == 0)
			break;
		/* A guest can be done before libvirt is (its last monitor commands after resuming
		 * QEMU), and libvirt then calls the start failed: the guest's exit line says it
		 * ran. */
		unik_console_read_end(dir, &con);
		if (con.exit_status >= 0 || con.crashed) {
			ended_status(dir, "", st);
			return 0;
		}
		msg = kvm_last_error();
		/* libvirtd logs every domain's QEMU through virtlogd, a daemon of its own that is
		 * easy to leave out when libvirtd is started by hand. */
		unik_error_set(err, UNIK_E_IO, "kvm: start domain %s: %s%s", r->domain, msg,
		               strstr(msg, "virtlogd") ? " (is virtlogd running? as root without "
		                                         "systemd: `virtlogd -d`)"
		                                       : "");
		/* Started but not resumed: no paused domain is left behind. */
		if (virDomainIsActive(dom) == 1)
			virDomainDestroy(dom);
		/* A start that lost a race with libvirt's cleanup of the previous run (a QEMU the
		 * host reaped late) is tried again, once the domain is off. */
		if (attempt == 3 || !wait_inactive(dom, 5000))
			return -1;
	}
	kvm_event_note(r->uuid, 1, gen);
	st->state = UNIK_STATE_RUNNING;
	st->pid = domain_pid(r);
	return 0;
}

static int kvm_run(void *ctx, const struct unik_run_spec *spec, struct unik_instance_status *st,
                   struct unik_error *err)
{
	(void)ctx;
	_cleanup_free_ char *dir = NULL, *kernel = NULL, *initrd = NULL, *name = NULL;
	_cleanup_free_ char *console = NULL, *xml = NULL, *label = NULL, *state = NULL;
	_cleanup_free_ char *disk = NULL, *vmdir = NULL;
	_cleanup_free_ struct unik_device *devs = NULL;
	_cleanup_strv_ struct strv dev_paths = {0};
	struct unik_vmm_user vu;
	const char *uri = opt_uri(spec->opts), *machine = unik_provider_opt(spec->opts, "machine");
	const char *boot = unik_provider_opt(spec->opts, "boot");
	const char *accel = getenv("UNIK_ACCEL");
	struct kvm_domain_params p = {0};
	struct kvm_record r = {0};
	struct kvm_conn c;
	virDomainPtr dom;
	int rc = -1;

	status_init(st);
	if (!spec->instance_id) {
		unik_error_set(err, UNIK_E_INVALID, "kvm: an instance needs an id");
		return -1;
	}
	if (unik_run_spec_paths("kvm", spec, &dir, &kernel, &initrd, err) < 0)
		return -1;
	if (boot && strcmp(boot, "kernel") && strcmp(boot, "disk")) {
		unik_error_set(err, UNIK_E_INVALID, "kvm: boot=%s: want boot=kernel or boot=disk",
		               boot);
		return -1;
	}
	if (boot && !strcmp(boot, "disk")) {
		if (!spec->disk) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "kvm: boot=disk, but the image has no disk: build it with "
			    "--format qcow2 (or raw), or `unik export IMAGE --format qcow2` "
			    "once to pack one");
			return -1;
		}
		if (spec->cmdline && *spec->cmdline &&
		    strcmp(spec->cmdline, spec->disk_cmdline ? spec->disk_cmdline : "")) {
			unik_error_set(
			    err, UNIK_E_UNSUPPORTED,
			    "kvm: boot=disk boots the command line baked into the image's "
			    "disk (%s), not `%s`: run without arguments, or with boot=kernel",
			    spec->disk_cmdline && *spec->disk_cmdline ? spec->disk_cmdline
			                                              : "the kernel's defaults",
			    spec->cmdline);
			return -1;
		}
		if (machine && !strcmp(machine, "microvm")) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "kvm: boot=disk needs firmware: machine pc or q35, not microvm");
			return -1;
		}
		if (!(disk = unik_provider_path("kvm", "disk", spec->disk, err)))
			return -1;
		if (!machine || !*machine)
			machine = "pc";
	}
	/* Volumes and shares by their own paths, never copied: the guest's writes must reach
	 * them.  libvirt relabels them for QEMU's user (docs/providers-kvm.md). */
	if (unik_run_spec_devices("kvm", spec, &devs, &dev_paths, err) < 0)
		return -1;
	if ((r.connect_timeout_ms = opt_connect_timeout(spec->opts, err)) < 0 ||
	    kvm_conn_get(uri, r.connect_timeout_ms, &c, err) < 0)
		return -1;
	name = kvm_domain_name(spec->instance_name, spec->instance_id);
	console = unik_path_join(dir, UNIK_CONSOLE_FILE);
	if (c.system) {
		/* QEMU as an unprivileged user, with its files where that user reaches them. */
		char *files[3] = {kernel, initrd, disk};

		if (kvm_user(&vu, err) < 0 ||
		    prepare_vm_dir(spec->instance_id, &vu, files, &vmdir, err) < 0) {
			kernel = files[0];
			initrd = files[1];
			disk = files[2];
			goto out;
		}
		kernel = files[0];
		initrd = files[1];
		disk = files[2];
		label = xasprintf("+%u:+%u", (unsigned)vu.uid, (unsigned)vu.gid);
	}
	p.name = name;
	/* KVM where libvirt offers it and the QEMU it starts can open /dev/kvm: libvirt probes as
	 * root, so a /dev/kvm of root's alone (a host without udev's rule) is offered but closed
	 * to QEMU's user, whose domain would then fail to start. */
	p.type = (accel && !strcmp(accel, "tcg")) || !c.has_kvm ||
	                 !unik_vmm_can_open_kvm(c.system ? &vu : NULL)
	             ? "qemu"
	             : "kvm";
	p.machine = machine && *machine ? machine : c.has_microvm ? "microvm" : "pc";
	p.instance_id = spec->instance_id;
	p.image_id = spec->image_id;
	p.kernel = kernel;
	p.initrd = initrd;
	p.disk = disk;
	p.disk_format = disk ? spec->disk_format : NULL;
	p.cmdline = spec->cmdline ? spec->cmdline : "";
	p.console = console;
	p.memory_mb = spec->memory_mb;
	p.dac_label = label;
	p.devices = devs;
	p.ndevices = spec->ndevices;
	if (kvm_domain_xml(&p, &xml, err) < 0)
		goto out;
	dom = virDomainLookupByName(c.conn, name);
	if (dom) {
		virDomainFree(dom);
		unik_error_set(err, UNIK_E_EXISTS,
		               "kvm: a libvirt domain named %s exists already; unik does not reuse "
		               "a domain it did not define for this run (if it is a leftover: "
		               "virsh -c %s undefine %s)",
		               name, uri, name);
		goto out;
	}
	if (unik_write_text_in(dir, KVM_XML_FILE, xml, err) < 0 ||
	    forget_previous_run(dir, err) < 0)
		goto out;
	dom = virDomainDefineXMLFlags(c.conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
	if (!dom) {
		unik_error_set(err, UNIK_E_IO, "kvm: define domain %s: %s", name, kvm_last_error());
		goto out;
	}
	snprintf(r.instance_id, sizeof(r.instance_id), "%s", spec->instance_id);
	snprintf(r.uri, sizeof(r.uri), "%s", uri);
	snprintf(r.domain, sizeof(r.domain), "%s", name);
	first_nic_ip(spec->devices, spec->ndevices, r.ip, sizeof(r.ip));
	if (virDomainGetUUIDString(dom, r.uuid) < 0) {
		unik_error_set(err, UNIK_E_IO, "kvm: UUID of domain %s: %s", name,
		               kvm_last_error());
		virDomainUndefine(dom);
		virDomainFree(dom);
		goto out;
	}
	/* Recorded before the boot, so that whatever happens next a later remove() finds it. */
	state = xasprintf("provider=kvm\ninstance_id=%s\nuri=%s\nconnect_timeout=%d\ndomain=%s\n"
	                  "uuid=%s\ntype=%s\nmachine=%s\nkernel=%s\ninitrd=%s\nmemory_mb=%llu\n"
	                  "vm_dir=%s\nip=%s\n",
	                  r.instance_id, r.uri, r.connect_timeout_ms / 1000, r.domain, r.uuid,
	                  p.type, p.machine, kernel, initrd ? initrd : "",
	                  (unsigned long long)p.memory_mb, vmdir ? vmdir : "", r.ip);
	if (unik_write_text_in(dir, KVM_STATE_FILE, state, err) < 0) {
		virDomainUndefine(dom);
		virDomainFree(dom);
		goto out;
	}
	if (create(dir, dom, &r, st, err) < 0) {
		/* Nothing ran: leave no domain behind, and no record of one. */
		_cleanup_free_ char *sp = unik_path_join(dir, KVM_STATE_FILE);

		virDomainUndefine(dom);
		unlink(sp);
		virDomainFree(dom);
		status_init(st);
		goto out;
	}
	virDomainFree(dom);
	rc = 0;
out:
	if (rc < 0 && vmdir) {
		struct unik_error e2;

		(void)unik_rmtree(vmdir, &e2);
	}
	kvm_conn_put(&c);
	return rc;
}

/* The record, connection and domain of an instance that unik defined; errors when any of them
 * is missing or the domain is not this instance's. */
static virDomainPtr open_ours(const char *dir, struct kvm_record *r, struct kvm_conn *c, bool *gone,
                              struct unik_error *err)
{
	virDomainPtr dom;
	int rc = read_record(dir, r, err);

	*gone = false;
	c->conn = NULL;
	if (rc <= 0) {
		*gone = rc == 0;
		return NULL;
	}
	if (kvm_conn_get(r->uri, r->connect_timeout_ms, c, err) < 0)
		return NULL;
	dom = lookup(c, r, gone, err);
	if (dom && check_ours(dom, r, err) < 0) {
		virDomainFree(dom);
		dom = NULL;
	}
	if (!dom)
		kvm_conn_put(c);
	return dom;
}

static int kvm_start(void *ctx, const char *dir, struct unik_instance_status *st,
                     struct unik_error *err)
{
	(void)ctx;
	struct kvm_record r;
	struct kvm_conn c;
	bool gone;
	int rc = -1;
	virDomainPtr dom;

	status_init(st);
	dom = open_ours(dir, &r, &c, &gone, err);
	if (!dom) {
		if (gone)
			unik_error_set(err, UNIK_E_NOTFOUND,
			               "kvm: the instance in `%s` has no libvirt domain any more "
			               "(undefined); run the image again",
			               dir);
		return -1;
	}
	/* A guest that has just ended may still count as running in libvirt until the host reaps
	 * QEMU (seconds, under a slow init): wait for that, but never for a live guest. */
	if (virDomainIsActive(dom) == 1 && pid_ended(domain_pid(&r)))
		wait_inactive(dom, 10000);
	if (virDomainIsActive(dom) == 1) {
		unik_error_set(err, UNIK_E_STATE, "kvm: domain %s is running already", r.domain);
	} else if (forget_previous_run(dir, err) == 0) {
		rc = create(dir, dom, &r, st, err);
	}
	virDomainFree(dom);
	kvm_conn_put(&c);
	return rc;
}

/* ---- stop and remove ----------------------------------------------------------------------- */

/* Waits up to timeout_ms for dom to be inactive, woken by lifecycle events. */
static bool wait_inactive(virDomainPtr dom, int timeout_ms)
{
	long long deadline = unik_now_ms() + timeout_ms;
	unsigned long seen = kvm_event_gen();

	for (;;) {
		int active = virDomainIsActive(dom);
		long long left = deadline - unik_now_ms();

		if (active == 0)
			return true;
		if (left <= 0)
			return false;
		/* Events wake us at once; the poll every 50 ms covers a connection without them. */
		kvm_wait_event(&seen, left < 50 ? (int)left : 50);
	}
}

static int kvm_stop(void *ctx, const char *dir, bool force, int timeout_ms, struct unik_error *err)
{
	(void)ctx;
	struct kvm_record r;
	struct kvm_conn c;
	virDomainPtr dom;
	bool gone;
	int rc = -1;

	dom = open_ours(dir, &r, &c, &gone, err);
	if (!dom)
		return gone ? 0 : -1; /* never defined, or gone: nothing runs */
	if (virDomainIsActive(dom) != 1) {
		rc = 0; /* ended already: its state stays as it ended */
		goto out;
	}
	if (unik_write_text_in(dir, KVM_STOPPED_FILE, "stopped on request\n", err) < 0)
		goto out;
	/* The graceful way: QEMU is asked to terminate (SIGTERM) and exits cleanly, as the qemu
	 * provider's QMP "quit".  An ACPI shutdown would go unanswered: microvm has no ACPI, and
	 * the runtime ends only by itself. */
	if (!force) {
		virDomainDestroyFlags(dom, VIR_DOMAIN_DESTROY_GRACEFUL);
		if (wait_inactive(dom, timeout_ms > 0 ? timeout_ms : 0)) {
			rc = 0;
			goto out;
		}
	}
	if (virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1) {
		unik_error_set(err, UNIK_E_IO, "kvm: destroy domain %s: %s", r.domain,
		               kvm_last_error());
		goto out;
	}
	rc = 0;
out:
	if (rc == 0)
		kvm_event_note(r.uuid, 0, kvm_event_gen());
	virDomainFree(dom);
	kvm_conn_put(&c);
	return rc;
}

static int kvm_remove(void *ctx, const char *dir, struct unik_error *err)
{
	(void)ctx;
	struct kvm_record r;
	struct kvm_conn c;
	virDomainPtr dom;
	bool gone;
	int rc = -1;

	dom = open_ours(dir, &r, &c, &gone, err);
	if (!dom) {
		if (gone)
			remove_vm_dir(dir);
		return gone ? 0 : -1;
	}
	/* Destroyed on request: it ends as stopped, as after stop(). */
	if (virDomainIsActive(dom) == 1 &&
	    (unik_write_text_in(dir, KVM_STOPPED_FILE, "stopped on request\n", err) < 0 ||
	     (virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1))) {
		unik_error_set(err, UNIK_E_IO, "kvm: destroy domain %s: %s", r.domain,
		               kvm_last_error());
		goto out;
	}
	if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
	                                    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
	                                    VIR_DOMAIN_UNDEFINE_NVRAM |
	                                    VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA) < 0 &&
	    virDomainUndefine(dom) < 0) {
		unik_error_set(err, UNIK_E_IO, "kvm: undefine domain %s: %s", r.domain,
		               kvm_last_error());
		goto out;
	}
	remove_vm_dir(dir);
	rc = 0;
out:
	virDomainFree(dom);
	kvm_conn_put(&c);
	return rc;
}

/* ---- availability -------------------------------------------------------------------------- */

static bool kvm_available(const char *const *opts, char *reason, size_t reason_len)
{
	struct unik_error err = {0};
	struct kvm_conn c;
	const char *uri = opt_uri(opts);
	const char *machine = unik_provider_opt(opts, "machine");
	int timeout_ms;

	if (machine && strcmp(machine, "microvm") && strcmp(machine, "pc") &&
	    strcmp(machine, "q35")) {
		snprintf(reason, reason_len, "machine=%s: unik boots microvm, pc or q35", machine);
		return false;
	}
	if ((timeout_ms = opt_connect_timeout(opts, &err)) < 0 ||
	    kvm_conn_get(uri, timeout_ms, &c, &err) < 0) {
		snprintf(reason, reason_len, "%s", err.msg);
		return false;
	}
	kvm_conn_put(&c);
	return true;
}

static const char *const kvm_opt_keys[] = {"uri", "machine", "boot", "connect_timeout", NULL};
static const char *const kvm_opt_help[] = {
    "libvirt connection URI (default qemu:///system)",
    "machine type: microvm (default where libvirt has it), pc or q35",
    "kernel (default: direct boot of the ELF) or disk (the image's qcow2/raw disk, via "
    "firmware and GRUB)",
    "seconds that opening the libvirt connection may take (default 10)",
    NULL,
};

const struct unik_provider unik_provider_kvm = {
    .name = "kvm",
    .description = "libvirt domain per instance (KVM where libvirt offers it, else TCG)",
    .image_format = "elf",
    .opt_keys = kvm_opt_keys,
    .opt_help = kvm_opt_help,
    .caps = UNIK_DEVICE_BIT(UNIK_DEVICE_NET) | UNIK_DEVICE_BIT(UNIK_DEVICE_BLK) |
            UNIK_DEVICE_BIT(UNIK_DEVICE_FS),
    .user_net = true,
    .available = kvm_available,
    .run = kvm_run,
    .status = kvm_status,
    .stop = kvm_stop,
    .remove = kvm_remove,
    .start = kvm_start,
};
