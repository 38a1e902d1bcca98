/* Unit tests for the qemu provider: the QEMU command line against golden files
 * (tests/data/qemu/NAME.args, UNIK_TEST_REGENERATE=1 rewrites them), the console's exit-line
 * parser, the QMP client against a fake monitor, and the registry. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define GOLDEN_SUBDIR "qemu"
#include "tests/unit/golden.h"

#include "providers/provider.h"
#include "providers/qemu/qemu.h"

/* ---- golden files -------------------------------------------------------------------------- */

static void check_golden(const char *name, const struct strv *argv)
{
	char *got;
	size_t len = 0, off = 0;

	for (size_t i = 0; i < argv->n; i++)
		len += strlen(argv->v[i]) + 1;
	got = xmalloc(len + 1);
	for (size_t i = 0; i < argv->n; i++) {
		size_t n = strlen(argv->v[i]);

		/* One argument per line: none of the inputs here has a newline. */
		assert_null(strchr(argv->v[i], '\n'));
		memcpy(got + off, argv->v[i], n);
		off += n;
		got[off++] = '\n';
	}
	got[off] = '\0';
	check_golden_text(name, got);
	free(got);
}

static void golden_case(const char *name, const char *accel, const char *initrd)
{
	_cleanup_strv_ struct strv argv = {0};
	struct unik_error err;
	struct qemu_config c = {
	    .qemu = "qemu-system-x86_64",
	    .accel = accel,
	    .dir = "/var/lib/unik/instances/0123456789ab",
	    .kernel = "/var/lib/unik/images/hello/kernel.elf",
	    .initrd = initrd,
	    .cmdline = "GREETING='hello world' hello --flag \"two words\"",
	    .memory_mb = 128,
	};

	assert_int_equal(qemu_build_argv(&c, &argv, &err), 0);
	check_golden(name, &argv);
}

static void test_argv_kvm(void **state)
{
	(void)state;
	golden_case("kvm.args", "kvm", NULL);
}

static void test_argv_tcg(void **state)
{
	(void)state;
	golden_case("tcg.args", "tcg", NULL);
}

static void test_argv_kvm_initrd(void **state)
{
	(void)state;
	golden_case("kvm-initrd.args", "kvm", "/var/lib/unik/images/hello/rootfs.cpio");
}

static void test_argv_tcg_initrd(void **state)
{
	(void)state;
	golden_case("tcg-initrd.args", "tcg", "/var/lib/unik/images/hello/rootfs.cpio");
}

/* Every kind of device, as the core hands them over (checked, MACs filled in): user-mode and
 * tap networking, a read-write raw and a read-only qcow2 disk, a writable and a read-only
 * share. */
static struct unik_device all_devices[] = {
    {.kind = UNIK_DEVICE_NET, .name = "net0", .mac = "52:54:00:12:34:56"},
    {.kind = UNIK_DEVICE_NET, .name = "lan", .tap = "tap,odd", .mac = "52:54:00:ab:cd:ef"},
    {.kind = UNIK_DEVICE_BLK,
     .name = "data",
     .path = "/var/lib/unik/volumes/data.raw",
     .format = "raw",
     .mount = "/data"},
    {.kind = UNIK_DEVICE_BLK,
     .name = "seed",
     .path = "/var/lib/unik/volumes/seed.qcow2",
     .format = "qcow2",
     .readonly = true},
    {.kind = UNIK_DEVICE_FS, .name = "share", .path = "/srv/share", .mount = "/mnt/share"},
    {.kind = UNIK_DEVICE_FS, .name = "conf", .path = "/etc/app", .readonly = true},
};
#define N_ALL_DEVICES (sizeof(all_devices) / sizeof(all_devices[0]))

static void devices_case(const char *name, const char *machine)
{
	_cleanup_strv_ struct strv argv = {0};
	_cleanup_free_ char *cmdline =
	    unik_devices_cmdline(all_devices, N_ALL_DEVICES, "GREETING=hi hello");
	struct unik_error err;
	struct qemu_config c = {
	    .qemu = "qemu-system-x86_64",
	    .accel = "tcg",
	    .dir = "/var/lib/unik/instances/0123456789ab",
	    .kernel = "/var/lib/unik/images/hello/kernel.elf",
	    .cmdline = cmdline,
	    .memory_mb = 128,
	    .machine = machine,
	    .devices = all_devices,
	    .ndevices = N_ALL_DEVICES,
	};

	if (qemu_build_argv(&c, &argv, &err) < 0)
		fail_msg("%s", err.msg);
	check_golden(name, &argv);
}

static void test_argv_devices_microvm(void **state)
{
	(void)state;
	devices_case("devices-microvm.args", NULL);
}

static void test_argv_devices_pc(void **state)
{
	(void)state;
	devices_case("devices-pc.args", "pc");
}

static void test_argv_devices_q35(void **state)
{
	(void)state;
	devices_case("devices-q35.args", "q35");
}

/* The supervisor opens what QEMU's command line names as descriptors, and nothing else. */
static void test_device_fds(void **state)
{
	struct unik_vmm_fd fds[UNIK_VMM_FD_DEVICES_MAX], back;
	struct qemu_config c = {.devices = all_devices, .ndevices = N_ALL_DEVICES};
	struct unik_error err;
	size_t n;

	(void)state;
	n = qemu_device_fds(&c, fds);
	assert_int_equal(n, 6);
	/* The NIC with a tap of its own: the supervisor attaches it and hands it over. */
	assert_int_equal(fds[0].target, UNIK_VMM_FD_DEVICES + 2);
	assert_int_equal(fds[0].mode, UNIK_VMM_FD_TAP);
	assert_string_equal(fds[0].path, all_devices[1].tap);
	assert_int_equal(fds[1].target, UNIK_VMM_FD_DEVICES + 4);
	assert_int_equal(fds[1].mode, UNIK_VMM_FD_RW);
	assert_string_equal(fds[1].path, "/var/lib/unik/volumes/data.raw");
	/* The writable disk's read-only twin, in the same fd set. */
	assert_int_equal(fds[2].target, UNIK_VMM_FD_DEVICES + 5);
	assert_int_equal(fds[2].mode, UNIK_VMM_FD_RO);
	assert_string_equal(fds[2].path, "/var/lib/unik/volumes/data.raw");
	assert_int_equal(fds[3].target, UNIK_VMM_FD_DEVICES + 6);
	assert_int_equal(fds[3].mode, UNIK_VMM_FD_RO);
	assert_int_equal(fds[4].mode, UNIK_VMM_FD_DIR);
	assert_int_equal(fds[5].target, UNIK_VMM_FD_DEVICES + 10);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *word = unik_vmm_fd_format(&fds[i]);

		assert_int_equal(unik_vmm_fd_parse(word, &back, &err), 0);
		assert_int_equal(back.target, fds[i].target);
		assert_int_equal(back.mode, fds[i].mode);
		assert_string_equal(back.path, fds[i].path);
	}
	assert_int_equal(unik_vmm_fd_parse("8:rw:/a:b", &back, &err), 0);
	assert_string_equal(back.path, "/a:b");
	assert_int_equal(unik_vmm_fd_parse("3:rw:/x", &back, &err), -1);
	assert_int_equal(unik_vmm_fd_parse("6:wr:/x", &back, &err), -1);
	assert_int_equal(unik_vmm_fd_parse("6:rw:", &back, &err), -1);
	assert_int_equal(unik_vmm_fd_parse("6", &back, &err), -1);
}

/* Published ports: two on user-mode networking with the address the core gives such NICs
 * (hostfwd to it), and a NIC on a network with its own address, whose tap QEMU gets as a
 * descriptor and whose ports unik-shim relays. */
static const struct unik_port user_ports[] = {
    {UNIK_PORT_TCP, "127.0.0.1", 8080, 80},
    {UNIK_PORT_UDP, "", 5353, 53},
};
static const struct unik_port lan_ports[] = {
    {UNIK_PORT_TCP, "", 8443, 443},
    {UNIK_PORT_UDP, "127.0.0.1", 9999, 7},
};
static struct unik_device net_devices[] = {
    {.kind = UNIK_DEVICE_NET,
     .name = "net0",
     .ip = "10.0.2.15/24",
     .gateway = "10.0.2.2",
     .dns = "10.0.2.3",
     .ports = user_ports,
     .nports = 2,
     .mac = "52:54:00:12:34:56"},
    {.kind = UNIK_DEVICE_NET,
     .name = "lan",
     .network = "backend",
     .bridge = "ukbr-9876543210",
     .ip = "10.88.0.5/24",
     .gateway = "10.88.0.1",
     .ports = lan_ports,
     .nports = 2,
     .mac = "52:54:00:ab:cd:ef"},
    {.kind = UNIK_DEVICE_NET, .name = "plain", .mac = "52:54:00:00:00:02"},
};

static void net_config(struct qemu_config *c, const char *machine, const char *cmdline)
{
	*c = (struct qemu_config){
	    .qemu = "qemu-system-x86_64",
	    .accel = "tcg",
	    .dir = "/var/lib/unik/instances/0123456789ab",
	    .kernel = "/var/lib/unik/images/hello/kernel.elf",
	    .cmdline = cmdline,
	    .memory_mb = 128,
	    .machine = machine,
	    .devices = net_devices,
	    .ndevices = sizeof(net_devices) / sizeof(net_devices[0]),
	    .instance_id = "0123456789ab",
	};
	qemu_name_taps(c);
}

static void test_argv_net(void **state)
{
	_cleanup_free_ char *cmdline =
	    unik_devices_cmdline(net_devices, sizeof(net_devices) / sizeof(net_devices[0]), "http");
	struct unik_error err;
	struct qemu_config c;

	(void)state;
	for (int pc = 0; pc < 2; pc++) {
		_cleanup_strv_ struct strv argv = {0};

		net_config(&c, pc ? "pc" : NULL, cmdline);
		if (qemu_build_argv(&c, &argv, &err) < 0)
			fail_msg("%s", err.msg);
		check_golden(pc ? "net-pc.args" : "net-microvm.args", &argv);
	}
}

/* The tap of the NIC on a network is named after the instance and handed over; its ports go to
 * unik-shim, the user-mode NIC's do not. */
static void test_net_taps_and_forwards(void **state)
{
	_cleanup_strv_ struct strv fw = {0};
	struct unik_vmm_fd fds[UNIK_VMM_FD_DEVICES_MAX], back;
	struct unik_device nodhcp;
	struct unik_error err;
	struct qemu_config c;
	size_t n;

	(void)state;
	net_config(&c, NULL, "");
	assert_string_equal(c.taps[0], "");
	assert_string_equal(c.taps[1], "uk0123456789ab1");
	assert_string_equal(c.taps[2], "");
	n = qemu_device_fds(&c, fds);
	assert_int_equal(n, 1);
	assert_int_equal(fds[0].target, UNIK_VMM_FD_DEVICES + 2);
	assert_int_equal(fds[0].mode, UNIK_VMM_FD_TAP);
	assert_string_equal(fds[0].path, "uk0123456789ab1");
	{
		_cleanup_free_ char *word = unik_vmm_fd_format(&fds[0]);

		assert_string_equal(word, "8:tap:uk0123456789ab1");
		assert_int_equal(unik_vmm_fd_parse(word, &back, &err), 0);
		assert_int_equal(back.mode, UNIK_VMM_FD_TAP);
	}
	assert_int_equal(qemu_forwards(&c, &fw, &err), 0);
	assert_int_equal(fw.n, 2);
	assert_string_equal(fw.v[0], "tcp::8443:10.88.0.5:443");
	assert_string_equal(fw.v[1], "udp:127.0.0.1:9999:10.88.0.5:7");
	/* Ports on a network need the guest's address. */
	nodhcp = net_devices[1];
	nodhcp.ip = NULL;
	c.devices = &nodhcp;
	c.ndevices = 1;
	assert_int_equal(qemu_forwards(&c, &fw, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_non_null(strstr(err.msg, "\"lan\""));
}

/* A named network without a bridge is refused with a reason, as is a machine unik does not
 * boot. */
static void test_argv_devices_refused(void **state)
{
	_cleanup_strv_ struct strv argv = {0};
	struct unik_device net = {.kind = UNIK_DEVICE_NET,
	                          .name = "lan",
	                          .network = "backend",
	                          .mac = "52:54:00:00:00:01"};
	struct unik_error err;
	struct qemu_config c = {.qemu = "q",
	                        .accel = "tcg",
	                        .dir = "/d",
	                        .kernel = "/k",
	                        .cmdline = "",
	                        .memory_mb = 64,
	                        .devices = &net,
	                        .ndevices = 1};

	(void)state;
	assert_int_equal(qemu_build_argv(&c, &argv, &err), -1);
	assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "\"backend\""));
	c.ndevices = 0;
	c.machine = "isapc";
	assert_int_equal(qemu_build_argv(&c, &argv, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
}

/* The QMP socket of a directory too deep for a socket address is bound relative to it. */
static void test_qmp_path(void **state)
{
	const char *deep = "/home/someone/a,b/a-rather-deep/unik-home-directory/for-testing/"
	                   "the-qmp-socket-name/instances/0123456789ab";
	char *p;

	(void)state;
	p = qemu_qmp_path("/var/lib/unik/instances/0123456789ab");
	assert_string_equal(p, "/var/lib/unik/instances/0123456789ab/qmp.sock");
	free(p);
	p = qemu_qmp_path(deep);
	assert_string_equal(p, "qmp.sock");
	free(p);
}

static void test_argv_invalid(void **state)
{
	_cleanup_strv_ struct strv argv = {0};
	struct unik_error err;
	struct qemu_config c = {.qemu = "q",
	                        .accel = "kvm",
	                        .dir = "/d",
	                        .kernel = "/k",
	                        .cmdline = "",
	                        .memory_mb = 0};

	(void)state;
	assert_int_equal(qemu_build_argv(&c, &argv, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	c.memory_mb = 64;
	c.kernel = NULL;
	assert_int_equal(qemu_build_argv(&c, &argv, &err), -1);
}

static void test_pick_accel(void **state)
{
	(void)state;
	setenv("UNIK_ACCEL", "tcg", 1);
	assert_string_equal(qemu_pick_accel(NULL), "tcg");
	unsetenv("UNIK_ACCEL");
	assert_string_equal(qemu_pick_accel(NULL),
	                    access("/dev/kvm", R_OK | W_OK) == 0 ? "kvm" : "tcg");
}

/* ---- console ------------------------------------------------------------------------------- */

static void parse(const char *text, struct unik_console_end *out)
{
	unik_console_parse(text, strlen(text), out);
}

static void test_console_exit_line(void **state)
{
	struct unik_console_end e;

	(void)state;
	parse("hello\nunik: exit status 0\n", &e);
	assert_int_equal(e.exit_status, 0);
	assert_false(e.crashed);
	parse("hello\r\nunik: exit status 200\r\n", &e);
	assert_int_equal(e.exit_status, 200);
	/* The last line wins. */
	parse("unik: exit status 3\nmore\nunik: exit status 4\n", &e);
	assert_int_equal(e.exit_status, 4);
	/* A line that is not at the end still counts. */
	parse("unik: exit status 7\ntrailing output\n", &e);
	assert_int_equal(e.exit_status, 7);
	/* The last line without its newline (the VM has ended). */
	parse("x\nunik: exit status 9", &e);
	assert_int_equal(e.exit_status, 9);
}

static void test_console_no_line(void **state)
{
	struct unik_console_end e;

	(void)state;
	parse("", &e);
	assert_int_equal(e.exit_status, -1);
	parse("hello\nworld\n", &e);
	assert_int_equal(e.exit_status, -1);
	/* Not at the start of a line, malformed or out of range: not an exit line. */
	parse("app says unik: exit status 3\n", &e);
	assert_int_equal(e.exit_status, -1);
	parse("unik: exit status \nunik: exit status 256\nunik: exit status 3x\n"
	      "unik: exit status -1\nunik: exit status 1234\n",
	      &e);
	assert_int_equal(e.exit_status, -1);
	assert_false(e.crashed);
}

static void test_console_crash(void **state)
{
	struct unik_console_end e;

	(void)state;
	parse("before the crash\n"
	      "unik: crash: page fault (vector 14) in crash\n"
	      "unik: crash: NULL pointer dereference at address 0 (read, not mapped)\n"
	      "unik: crash: rip 1002b1 rsp 7fefffffff48 rbp 0 error 4 cs 23 rflags 10246\n"
	      "unik: exit status 255\n",
	      &e);
	assert_true(e.crashed);
	assert_int_equal(e.exit_status, 255);
	assert_string_equal(e.crash_line, "unik: crash: page fault (vector 14) in crash");
	/* A crash report cut short (VM killed while reporting). */
	parse("unik: crash: invalid opcode (vector 6) in app\r\n", &e);
	assert_true(e.crashed);
	assert_int_equal(e.exit_status, -1);
	assert_string_equal(e.crash_line, "unik: crash: invalid opcode (vector 6) in app");
}

static void test_console_file_tail(void **state)
{
	_cleanup_free_ char *dir = NULL, *path = NULL;
	struct unik_console_end e;
	struct unik_error err;
	FILE *f;

	(void)state;
	dir = unik_mkdtemp("unik-test-qemu", &err);
	assert_non_null(dir);
	unik_console_read_end(dir, &e); /* no console.log yet */
	assert_int_equal(e.exit_status, -1);
	path = unik_path_join(dir, UNIK_CONSOLE_FILE);
	f = fopen(path, "w");
	assert_non_null(f);
	/* An early exit line far before the tail must not count; the last one must. */
	fputs("unik: exit status 1\n", f);
	for (int i = 0; i < 20000; i++)
		fputs("some application output line\n", f);
	fputs("unik: exit status 42\n", f);
	fclose(f);
	unik_console_read_end(dir, &e);
	assert_int_equal(e.exit_status, 42);
	assert_int_equal(unik_rmtree(dir, &err), 0);
}

/* ---- QMP ----------------------------------------------------------------------------------- */

enum fake_mode { FAKE_GOOD, FAKE_ERROR, FAKE_SILENT, FAKE_NOT_QMP };

static void fake_send(int fd, const char *s)
{
	assert_int_equal(unik_write_all(fd, s, strlen(s)), 0);
}

/* Reads one line (a command) and checks it names `want`. */
static int fake_expect(int fd, const char *want)
{
	char buf[512];
	size_t n = 0;

	while (n + 1 < sizeof(buf)) {
		ssize_t r = read(fd, buf + n, 1);

		if (r <= 0)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return strstr(buf, want) ? 0 : -1;
}

/* The fake monitor, in a child process: one connection, then exit 0 if the client spoke as it
 * should. */
static void fake_server(int lfd, enum fake_mode mode)
{
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		_exit(10);
	if (mode == FAKE_SILENT) {
		sleep(5);
		_exit(0);
	}
	if (mode == FAKE_NOT_QMP) {
		fake_send(fd, "{\"hello\": 1}\r\n");
		sleep(1);
		_exit(0);
	}
	/* Greeting in two pieces, to exercise buffering. */
	fake_send(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, ");
	usleep(10000);
	fake_send(fd, "\"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n");
	if (fake_expect(fd, "\"qmp_capabilities\"") < 0)
		_exit(11);
	fake_send(fd, "{\"return\": {}}\r\n");
	if (fake_expect(fd, "\"query-status\"") < 0)
		_exit(12);
	/* An event comes first; the client must skip it. */
	fake_send(fd,
	          "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "
	          "\"RESUME\"}\r\n{\"return\": {\"status\": \"running\", \"running\": true}}\r\n");
	if (fake_expect(fd, "\"quit\"") < 0)
		_exit(13);
	if (mode == FAKE_ERROR)
		fake_send(fd,
		          "{\"error\": {\"class\": \"GenericError\", \"desc\": \"not now\"}}\r\n");
	else
		fake_send(fd, "{\"return\": {}}\r\n{\"timestamp\": {\"seconds\": 1, "
		              "\"microseconds\": 2}, \"event\": \"SHUTDOWN\"}\r\n");
	close(fd);
	_exit(0);
}

struct fake {
	char *dir;
	char *sock;
	pid_t pid;
};

static void fake_start(struct fake *f, enum fake_mode mode, bool deep)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct unik_error err;
	_cleanup_free_ char *bind_path = NULL;
	int lfd;

	f->dir = unik_mkdtemp("unik-test-qmp", &err);
	assert_non_null(f->dir);
	if (deep) {
		/* Deeper than a socket address can name: the client must still reach it. */
		char *d = xstrdup(f->dir);

		for (int i = 0; i < 4; i++) {
			char *next =
			    xasprintf("%s/%s", d, "a-long-directory-name-to-push-the-path");

			free(d);
			d = next;
			assert_int_equal(mkdir(d, 0700), 0);
		}
		f->sock = unik_path_join(d, "qmp.sock");
		assert_true(strlen(f->sock) >= sizeof(sa.sun_path));
		assert_int_equal(chdir(d), 0);
		bind_path = xstrdup("qmp.sock");
		free(d);
	} else {
		f->sock = unik_path_join(f->dir, "qmp.sock");
		bind_path = xstrdup(f->sock);
	}
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	memcpy(sa.sun_path, bind_path, strlen(bind_path) + 1);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	if (deep)
		assert_int_equal(chdir("/"), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0)
		fake_server(lfd, mode);
	close(lfd);
}

static int fake_finish(struct fake *f)
{
	struct unik_error err;
	int ws;

	kill(f->pid, SIGKILL);
	assert_int_equal(waitpid(f->pid, &ws, 0), f->pid);
	assert_int_equal(unik_rmtree(f->dir, &err), 0);
	free(f->dir);
	free(f->sock);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static void qmp_good(bool deep)
{
	struct fake f;
	struct qemu_qmp *q = NULL;
	struct unik_error err;
	_cleanup_free_ char *ret = NULL;
	int ws;

	fake_start(&f, FAKE_GOOD, deep);
	if (qemu_qmp_open(f.sock, 5000, &q, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(qemu_qmp_execute(q, "query-status", &ret, &err), 0);
	assert_non_null(strstr(ret, "\"running\""));
	assert_int_equal(qemu_qmp_execute(q, "quit", NULL, &err), 0);
	qemu_qmp_close(q);
	/* The server checked every command it got; let it finish before judging. */
	assert_int_equal(waitpid(f.pid, &ws, 0), f.pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	f.pid = getpid(); /* already reaped: make fake_finish's kill harmless */
	assert_int_equal(unik_rmtree(f.dir, &err), 0);
	free(f.dir);
	free(f.sock);
}

static void test_qmp_good(void **state)
{
	(void)state;
	qmp_good(false);
}

static void test_qmp_long_path(void **state)
{
	(void)state;
	qmp_good(true);
}

static void test_qmp_error_reply(void **state)
{
	struct fake f;
	struct qemu_qmp *q = NULL;
	struct unik_error err;

	(void)state;
	fake_start(&f, FAKE_ERROR, false);
	assert_int_equal(qemu_qmp_open(f.sock, 5000, &q, &err), 0);
	assert_int_equal(qemu_qmp_execute(q, "query-status", NULL, &err), 0);
	assert_int_equal(qemu_qmp_execute(q, "quit", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "not now"));
	qemu_qmp_close(q);
	fake_finish(&f);
}

static void test_qmp_timeout(void **state)
{
	struct fake f;
	struct qemu_qmp *q = NULL;
	struct unik_error err;

	(void)state;
	fake_start(&f, FAKE_SILENT, false);
	assert_int_equal(qemu_qmp_open(f.sock, 100, &q, &err), -1);
	assert_non_null(strstr(err.msg, "timed out"));
	assert_null(q);
	fake_finish(&f);
}

static void test_qmp_not_qmp(void **state)
{
	struct fake f;
	struct qemu_qmp *q = NULL;
	struct unik_error err;

	(void)state;
	fake_start(&f, FAKE_NOT_QMP, false);
	assert_int_equal(qemu_qmp_open(f.sock, 2000, &q, &err), -1);
	assert_non_null(strstr(err.msg, "QMP banner"));
	fake_finish(&f);
}

static void test_qmp_no_socket(void **state)
{
	struct qemu_qmp *q = NULL;
	struct unik_error err;

	(void)state;
	assert_int_equal(qemu_qmp_open("/nonexistent/qmp.sock", 100, &q, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
}

/* ---- registry and process records ------------------------------------------------------------ */

static void test_registry(void **state)
{
	(void)state;
	assert_string_equal(unik_provider_default(), "qemu");
	assert_ptr_equal(unik_provider_find("qemu"), &unik_provider_qemu);
	assert_null(unik_provider_find("nope"));
	assert_null(unik_provider_find(NULL));
	assert_non_null(unik_providers[0]);
	assert_string_equal(unik_provider_qemu.image_format, "elf");
	assert_string_equal(unik_instance_state_name(UNIK_STATE_PENDING), "pending");
	assert_string_equal(unik_instance_state_name(UNIK_STATE_RUNNING), "running");
	assert_string_equal(unik_instance_state_name(UNIK_STATE_EXITED), "exited");
	assert_string_equal(unik_instance_state_name(UNIK_STATE_CRASHED), "crashed");
	assert_string_equal(unik_instance_state_name(UNIK_STATE_STOPPED), "stopped");
}

static void test_proc_records(void **state)
{
	_cleanup_free_ char *dir = NULL;
	struct qemu_proc p;
	struct unik_error err;
	char line[64];
	pid_t child;

	(void)state;
	dir = unik_mkdtemp("unik-test-proc", &err);
	assert_non_null(dir);
	assert_int_equal(qemu_proc_read(dir, "x.pid", &p), -1);
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	/* The start time is the child's own: read it the way unik-shim records it. */
	{
		char path[64], buf[1024];
		FILE *f;
		char *q;
		unsigned long long start = 0;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)child);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_non_null(fgets(buf, sizeof(buf), f));
		fclose(f);
		q = strrchr(buf, ')');
		for (int i = 2; i < 22; i++)
			q = strchr(q + 1, ' ');
		start = strtoull(q + 1, NULL, 10);
		snprintf(line, sizeof(line), "%d %llu\n", (int)child, start);
	}
	_cleanup_free_ char *path = unik_path_join(dir, "x.pid");

	assert_int_equal(unik_write_file_atomic(path, line, strlen(line), 0644, &err), 0);
	assert_int_equal(qemu_proc_read(dir, "x.pid", &p), 0);
	assert_int_equal(p.pid, child);
	assert_true(qemu_proc_alive(&p));
	/* The same PID with another start time is a recycled PID: not ours. */
	p.start++;
	assert_false(qemu_proc_alive(&p));
	p.start--;
	qemu_proc_kill(&p, SIGKILL);
	/* Dead but not reaped (a zombie) counts as gone. */
	assert_true(qemu_proc_wait_gone(&p, 2000));
	assert_false(qemu_proc_alive(&p));
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_false(qemu_proc_alive(&p));
	assert_int_equal(unik_write_file_atomic(path, "garbage\n", 8, 0644, &err), 0);
	assert_int_equal(qemu_proc_read(dir, "x.pid", &p), -1);
	assert_int_equal(unik_rmtree(dir, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_argv_kvm),
	    cmocka_unit_test(test_argv_tcg),
	    cmocka_unit_test(test_argv_kvm_initrd),
	    cmocka_unit_test(test_argv_tcg_initrd),
	    cmocka_unit_test(test_qmp_path),
	    cmocka_unit_test(test_argv_invalid),
	    cmocka_unit_test(test_pick_accel),
	    cmocka_unit_test(test_console_exit_line),
	    cmocka_unit_test(test_console_no_line),
	    cmocka_unit_test(test_console_crash),
	    cmocka_unit_test(test_console_file_tail),
	    cmocka_unit_test(test_qmp_good),
	    cmocka_unit_test(test_qmp_long_path),
	    cmocka_unit_test(test_qmp_error_reply),
	    cmocka_unit_test(test_qmp_timeout),
	    cmocka_unit_test(test_qmp_not_qmp),
	    cmocka_unit_test(test_qmp_no_socket),
	    cmocka_unit_test(test_registry),
	    cmocka_unit_test(test_proc_records),
	    cmocka_unit_test(test_argv_devices_microvm),
	    cmocka_unit_test(test_argv_devices_pc),
	    cmocka_unit_test(test_argv_devices_q35),
	    cmocka_unit_test(test_device_fds),
	    cmocka_unit_test(test_argv_devices_refused),
	    cmocka_unit_test(test_argv_net),
	    cmocka_unit_test(test_net_taps_and_forwards),
	    /* Last: every golden file was read. */
	    cmocka_unit_test(test_no_unread_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
