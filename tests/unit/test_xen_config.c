/* Unit tests for the xen provider without a hypervisor: libxl's own JSON of the domain
 * configurations the provider builds, against golden files (tests/data/xen/NAME.json,
 * UNIK_TEST_REGENERATE=1 rewrites them); the builder's refusals; domain names and options; the
 * ended-instance status from the records; and the provider's answer on a host without Xen. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define GOLDEN_SUBDIR "xen"
#include "tests/unit/golden.h"
#include <libxl_utils.h>

#include "providers/provider.h"
#include "providers/xen/xen.h"

#define TEST_UUID "5f1e0b7c-2a43-4d7e-9c1a-0123456789ab"

/* Builds the config of g and compares libxl's JSON of it with the golden file. */
static void golden_case(const char *file, const struct unik_xl_guest *g)
{
	libxl_domain_config c;
	libxl_uuid uuid;
	struct unik_error err = {0};
	char *json, *text;

	assert_int_equal(libxl_uuid_from_string(&uuid, TEST_UUID), 0);
	libxl_domain_config_init(&c);
	if (xen_build_config(g, &uuid, &c, &err) < 0)
		fail_msg("xen_build_config: %s", err.msg);
	json = xen_config_json(&c);
	/* libxl's JSON ends without a newline; the golden file has one. */
	text = xasprintf("%s\n", json);
	check_golden_text(file, text);
	free(text);
	free(json);
	libxl_domain_config_dispose(&c);
}

static void test_json_hello(void **state)
{
	(void)state;
	struct unik_xl_guest g = {
	    .name = "unik-hello-0123456789ab",
	    .kernel = "/var/lib/unik/images/ba9876543210/kernel.elf",
	    .cmdline = "",
	    .memory_mb = 64,
	    .vcpus = 1,
	};
	golden_case("hello.json", &g);
}

static void test_json_ramdisk_quotes(void **state)
{
	(void)state;
	struct unik_xl_guest g = {
	    .name = "unik-greet-0123456789ab",
	    .kernel = "/var/lib/unik/images/ba9876543210/kernel.elf",
	    .ramdisk = "/var/lib/unik/images/ba9876543210/rootfs.cpio",
	    .cmdline = "GREETING='hello world' greet --flag \"two words\" back\\slash 'it''s'",
	    .memory_mb = 128,
	    .vcpus = 1,
	    .on_poweroff = "destroy",
	    .on_reboot = "destroy",
	    .on_crash = "destroy",
	};
	golden_case("ramdisk-quotes.json", &g);
}

static void test_json_big_memory(void **state)
{
	(void)state;
	struct unik_xl_guest g = {
	    .name = "unik-big-0123456789ab",
	    .kernel = "/var/lib/unik/images/ba9876543210/kernel.elf",
	    .cmdline = "big",
	    .memory_mb = 65536,
	    .vcpus = 4,
	    .on_crash = "preserve",
	};
	golden_case("big-memory.json", &g);
}

static void test_json_disk_coredump(void **state)
{
	(void)state;
	struct unik_xl_guest g = {
	    .name = "unik-db-0123456789ab",
	    .kernel = "/var/lib/unik/images/ba9876543210/kernel.elf",
	    .ramdisk = "/var/lib/unik/images/ba9876543210/rootfs.cpio",
	    .cmdline = "db --data /dev/xvda",
	    .memory_mb = 512,
	    .vcpus = 9,
	    .on_crash = "coredump-destroy",
	    .disk = "format=raw,vdev=xvda,access=rw,target=/var/lib/unik/volumes/data.img",
	};
	golden_case("disk-coredump.json", &g);
}

static const struct unik_device xen_devices[] = {
    {.kind = UNIK_DEVICE_NET, .name = "lan", .network = "xenbr0", .mac = "52:54:00:12:34:56"},
    {.kind = UNIK_DEVICE_BLK,
     .name = "data",
     .path = "/var/lib/unik/volumes/data,1.raw",
     .format = "raw",
     .mount = "/data"},
    {.kind = UNIK_DEVICE_BLK,
     .name = "seed",
     .path = "/var/lib/unik/volumes/seed.qcow2",
     .format = "qcow2",
     .readonly = true},
    {.kind = UNIK_DEVICE_FS, .name = "share", .path = "/srv/share", .mount = "/mnt/share"},
};

/* Every kind: a vif on the network's bridge, a read-write and a read-only disk after the disk
 * option's xvda (each spec read by libxlutil's disk parser, as xl reads it), a 9pfs share. */
static void test_json_devices(void **state)
{
	(void)state;
	struct unik_xl_guest g = {
	    .name = "unik-dev-0123456789ab",
	    .kernel = "/var/lib/unik/images/ba9876543210/kernel.elf",
	    .cmdline = "unik.dev.lan=net,mac=52:54:00:12:34:56 app",
	    .memory_mb = 64,
	    .vcpus = 1,
	    .disk = "format=raw,vdev=xvda,access=rw,target=/var/lib/unik/volumes/boot.img",
	};
	libxl_domain_config c;
	libxl_uuid uuid;
	struct unik_error err = {0};
	_cleanup_free_ char *json = NULL, *text = NULL;

	assert_int_equal(libxl_uuid_from_string(&uuid, TEST_UUID), 0);
	libxl_domain_config_init(&c);
	if (xen_build_config(&g, &uuid, &c, &err) < 0 ||
	    xen_add_devices(xen_devices, sizeof(xen_devices) / sizeof(xen_devices[0]), &c, &err) <
	        0)
		fail_msg("%s", err.msg);
	assert_int_equal(c.num_nics, 1);
	assert_int_equal(c.num_disks, 3);
	assert_string_equal(c.disks[1].vdev, "xvdb");
	assert_string_equal(c.disks[1].pdev_path, "/var/lib/unik/volumes/data,1.raw");
	assert_int_equal(c.disks[2].readwrite, 0);
	assert_int_equal(c.num_p9s, 1);
	json = xen_config_json(&c);
	text = xasprintf("%s\n", json);
	check_golden_text("devices.json", text);
	libxl_domain_config_dispose(&c);
}

/* What Xen cannot do is refused with the reason, not dropped. */
static void test_devices_refused(void **state)
{
	(void)state;
	struct unik_device user = {
	    .kind = UNIK_DEVICE_NET, .name = "n", .mac = "52:54:00:00:00:01"};
	struct unik_device tap = user;
	struct unik_device ro = {
	    .kind = UNIK_DEVICE_FS, .name = "s", .path = "/srv", .readonly = true};
	libxl_domain_config c;
	struct unik_error err = {0};

	tap.tap = "tap0";
	libxl_domain_config_init(&c);
	assert_int_equal(xen_add_devices(&user, 1, &c, &err), -1);
	assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "user-mode"));
	assert_int_equal(xen_add_devices(&tap, 1, &c, &err), -1);
	assert_non_null(strstr(err.msg, "existing tap"));
	assert_int_equal(xen_add_devices(&ro, 1, &c, &err), -1);
	assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "read-only"));
	libxl_domain_config_dispose(&c);
}

/* NICs as the core fills them in: the vif joins the network's bridge (not a bridge named like
 * the network), two NICs in order; the addresses go to the guest on its command line only. */
static const struct unik_device xen_nics[] = {
    {.kind = UNIK_DEVICE_NET,
     .name = "net0",
     .network = "backend",
     .bridge = "ukbr-backend",
     .ip = "10.93.1.2/24",
     .gateway = "10.93.1.1",
     .dns = "10.93.1.1",
     .mac = "52:54:00:00:00:01"},
    {.kind = UNIK_DEVICE_NET,
     .name = "lan",
     .network = "lan",
     .bridge = "ukbr-lan",
     .mac = "52:54:00:00:00:02"},
};

static void test_json_net(void **state)
{
	(void)state;
	struct unik_xl_guest g = {
	    .name = "unik-net-0123456789ab",
	    .kernel = "/var/lib/unik/images/ba9876543210/kernel.elf",
	    .cmdline = "unik.dev.net0=net,mac=52:54:00:00:00:01 unik.dev.lan=net,"
	               "mac=52:54:00:00:00:02 unik.net0=10.93.1.2/24,gw=10.93.1.1,dns=10.93.1.1 "
	               "app",
	    .memory_mb = 64,
	    .vcpus = 1,
	};
	libxl_domain_config c;
	libxl_uuid uuid;
	struct unik_error err = {0};
	_cleanup_free_ char *json = NULL, *text = NULL, *vifs = NULL;

	assert_int_equal(libxl_uuid_from_string(&uuid, TEST_UUID), 0);
	libxl_domain_config_init(&c);
	if (xen_build_config(&g, &uuid, &c, &err) < 0 || xen_add_devices(xen_nics, 2, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c.num_nics, 2);
	assert_string_equal(c.nics[0].bridge, "ukbr-backend");
	assert_string_equal(c.nics[1].bridge, "ukbr-lan");
	json = xen_config_json(&c);
	text = xasprintf("%s\n", json);
	check_golden_text("net.json", text);
	libxl_domain_config_dispose(&c);
	/* The operator's xl.cfg gets the same vifs, in xl's spelling. */
	vifs = xen_xl_vifs(xen_nics, 2);
	assert_non_null(vifs);
	assert_string_equal(vifs, "vif = [ 'mac=52:54:00:00:00:01,bridge=ukbr-backend', "
	                          "'mac=52:54:00:00:00:02,bridge=ukbr-lan' ]\n");
	assert_null(xen_xl_vifs(xen_devices + 1, 1));
	assert_null(xen_xl_vifs(NULL, 0));
}

/* Builds a guest's config with devs, its command line as the core makes it (the device words
 * first, then args), and compares libxl's JSON with the golden file. */
static void golden_devices(const char *file, struct unik_xl_guest *g,
                           const struct unik_device *devs, size_t n, const char *args)
{
	_cleanup_free_ char *cmdline = unik_devices_cmdline(devs, n, args);
	_cleanup_free_ char *json = NULL, *text = NULL;
	libxl_domain_config c;
	libxl_uuid uuid;
	struct unik_error err = {0};

	g->cmdline = cmdline;
	assert_int_equal(libxl_uuid_from_string(&uuid, TEST_UUID), 0);
	libxl_domain_config_init(&c);
	if (xen_build_config(g, &uuid, &c, &err) < 0 || xen_add_devices(devs, n, &c, &err) < 0)
		fail_msg("%s", err.msg);
	json = xen_config_json(&c);
	text = xasprintf("%s\n", json);
	check_golden_text(file, text);
	libxl_domain_config_dispose(&c);
}

/* An includeos service (examples/includeos/http) on a network: one vif on the network's bridge,
 * the address on the command line, and no arguments (a service has no argv). */
static void test_json_includeos(void **state)
{
	(void)state;
	static const struct unik_device devs[] = {
	    {.kind = UNIK_DEVICE_NET,
	     .name = "net0",
	     .network = "lan",
	     .bridge = "ukbr-lan",
	     .ip = "10.87.1.2/24",
	     .gateway = "10.87.1.1",
	     .mac = "52:54:00:00:00:0a"},
	};
	struct unik_xl_guest g = {
	    .name = "unik-web-0123456789ab",
	    .kernel = "/var/lib/unik/images/ba9876543210/web",
	    .memory_mb = 64,
	    .vcpus = 1,
	};
	golden_devices("includeos-http.json", &g, devs, 1, "");
}

/* A mirage application (examples/mirage/kv) run with --net service=lan --block storage=kvdata:
 * the devices carry the declared names, the volume is attached whole (raw, read-write, no
 * mount point), and the NIC's address is given as unik.service=. */
static void test_json_mirage(void **state)
{
	(void)state;
	static const struct unik_device devs[] = {
	    {.kind = UNIK_DEVICE_NET,
	     .name = "service",
	     .network = "lan",
	     .bridge = "ukbr-lan",
	     .ip = "10.87.1.3/24",
	     .gateway = "10.87.1.1",
	     .mac = "52:54:00:00:00:0b"},
	    {.kind = UNIK_DEVICE_BLK,
	     .name = "storage",
	     .path = "/var/lib/unik/volumes/4f2a9c1b7e30/disk.img",
	     .format = "raw"},
	};
	struct unik_xl_guest g = {
	    .name = "unik-kv-0123456789ab",
	    .kernel = "/var/lib/unik/images/ba9876543210/kv",
	    .memory_mb = 64,
	    .vcpus = 1,
	};
	golden_devices("mirage-kv.json", &g, devs, 2, "kv");
}

/* No forwarder on a Xen host: published ports are refused, naming the port and the guest's
 * address to use instead. */
static void test_ports_refused(void **state)
{
	(void)state;
	static const struct unik_port port = {
	    .proto = UNIK_PORT_UDP, .host_port = 5353, .guest_port = 53};
	struct unik_device d = xen_nics[0];
	libxl_domain_config c;
	struct unik_error err = {0};

	d.ports = &port;
	d.nports = 1;
	libxl_domain_config_init(&c);
	assert_int_equal(xen_add_devices(&d, 1, &c, &err), -1);
	assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "0.0.0.0:5353->53/udp"));
	assert_non_null(strstr(err.msg, "10.93.1.2/24"));
	assert_int_equal(c.num_nics, 0);
	libxl_domain_config_dispose(&c);
}

/* The JSON is libxl's, not ours: spot-check that it carries what matters. */
static void test_json_fields(void **state)
{
	(void)state;
	struct unik_xl_guest g = {
	    .name = "n",
	    .kernel = "/k",
	    .ramdisk = "/r",
	    .cmdline = "a \"b\"",
	    .memory_mb = 3,
	    .vcpus = 2,
	    .on_crash = "preserve",
	};
	libxl_domain_config c;
	struct unik_error err;
	char *j;

	libxl_domain_config_init(&c);
	assert_int_equal(xen_build_config(&g, NULL, &c, &err), 0);
	assert_int_equal(c.c_info.type, LIBXL_DOMAIN_TYPE_PVH);
	assert_int_equal(c.b_info.type, LIBXL_DOMAIN_TYPE_PVH);
	assert_int_equal(c.b_info.max_memkb, 3 * 1024);
	assert_int_equal(c.b_info.target_memkb, 3 * 1024);
	assert_int_equal(c.b_info.max_vcpus, 2);
	assert_int_equal(libxl_bitmap_count_set(&c.b_info.avail_vcpus), 2);
	assert_int_equal(c.on_poweroff, LIBXL_ACTION_ON_SHUTDOWN_DESTROY);
	assert_int_equal(c.on_reboot, LIBXL_ACTION_ON_SHUTDOWN_DESTROY);
	assert_int_equal(c.on_crash, LIBXL_ACTION_ON_SHUTDOWN_PRESERVE);
	assert_int_equal(c.num_disks, 0);
	j = xen_config_json(&c);
	assert_non_null(strstr(j, "\"type\": \"pvh\""));
	assert_non_null(strstr(j, "\"kernel\": \"/k\""));
	assert_non_null(strstr(j, "\"ramdisk\": \"/r\""));
	assert_non_null(strstr(j, "\"cmdline\": \"a \\\"b\\\"\""));
	/* libxl leaves out what equals its default, as destroy does for the actions. */
	assert_non_null(strstr(j, "\"on_crash\": \"preserve\""));
	assert_null(strstr(j, "\"on_poweroff\""));
	free(j);
	libxl_domain_config_dispose(&c);
}

static void expect_refused(const struct unik_xl_guest *g, const char *needle)
{
	libxl_domain_config c;
	struct unik_error err = {0};

	libxl_domain_config_init(&c);
	assert_int_equal(xen_build_config(g, NULL, &c, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
	libxl_domain_config_dispose(&c);
}

static void test_build_refuses(void **state)
{
	(void)state;
	struct unik_xl_guest ok = {.name = "n", .kernel = "/k", .memory_mb = 8, .vcpus = 1}, g;

	g = ok, g.name = NULL;
	expect_refused(&g, "name");
	g = ok, g.kernel = "relative/kernel.elf";
	expect_refused(&g, "absolute");
	g = ok, g.ramdisk = "rootfs.cpio";
	expect_refused(&g, "absolute");
	g = ok, g.memory_mb = 0;
	expect_refused(&g, "memory");
	g = ok, g.vcpus = 0;
	expect_refused(&g, "vcpus");
	g = ok, g.on_crash = "restart";
	expect_refused(&g, "restart");
	g = ok, g.disk = "vdev=xvda,nonsense-key=1";
	expect_refused(&g, "disk=");
}

/* ---- names and options --------------------------------------------------------------------- */

static void test_domain_name(void **state)
{
	(void)state;
	char *n = xen_domain_name("hello", "0123456789ab");

	assert_string_equal(n, "unik-hello-0123456789ab");
	free(n);
	n = xen_domain_name("a b/c\"d", "0123456789ab");
	assert_string_equal(n, "unik-a-b-c-d-0123456789ab");
	free(n);
	n = xen_domain_name(NULL, "0123456789ab");
	assert_string_equal(n, "unik-guest-0123456789ab");
	free(n);
	n = xen_domain_name("a-very-long-instance-name-that-goes-on-and-on-and-on-forever-and-ever",
	                    "0123456789ab");
	assert_int_equal(strlen(n), 64);
	assert_true(unik_str_has_prefix(n, "unik-a-very-long"));
	assert_true(unik_str_has_suffix(n, "-0123456789ab"));
	free(n);
}

static void test_options(void **state)
{
	(void)state;
	const char *none[] = {NULL};
	const char *some[] = {"vcpus=3", "on_crash=preserve", "disk=vdev=xvda,target=/d", NULL};
	const char *twice[] = {"vcpus=3", "vcpus=2", NULL};
	const char *bad_vcpus[] = {"vcpus=0", NULL};
	const char *bad_vcpus2[] = {"vcpus=2x", NULL};
	const char *bad_crash[] = {"on_crash=reboot", NULL};
	struct unik_xl_guest g;
	struct unik_error err;

	memset(&g, 0, sizeof(g));
	assert_int_equal(xen_guest_options(none, &g, &err), 0);
	assert_int_equal(g.vcpus, 1);
	assert_string_equal(g.on_poweroff, "destroy");
	assert_string_equal(g.on_reboot, "destroy");
	assert_string_equal(g.on_crash, "destroy");
	assert_null(g.disk);
	assert_int_equal(xen_guest_options(some, &g, &err), 0);
	assert_int_equal(g.vcpus, 3);
	assert_string_equal(g.on_crash, "preserve");
	assert_string_equal(g.disk, "vdev=xvda,target=/d");
	assert_int_equal(xen_guest_options(twice, &g, &err), 0);
	assert_int_equal(g.vcpus, 2);
	assert_int_equal(xen_guest_options(bad_vcpus, &g, &err), -1);
	assert_non_null(strstr(err.msg, "vcpus=0"));
	assert_int_equal(xen_guest_options(bad_vcpus2, &g, &err), -1);
	assert_int_equal(xen_guest_options(bad_crash, &g, &err), -1);
	assert_non_null(strstr(err.msg, "on_crash=reboot"));
	assert_int_equal(err.code, UNIK_E_INVALID);
}

/* ---- records ------------------------------------------------------------------------------- */

static char *tmp_dir(void)
{
	struct unik_error err;
	char *d = unik_mkdtemp("unik-test-xen", &err);

	assert_non_null(d);
	return d;
}

static void put(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);
	struct unik_error err;

	assert_int_equal(unik_write_file_atomic(p, text, strlen(text), 0644, &err), 0);
}

static void test_ended_status(void **state)
{
	(void)state;
	_cleanup_free_ char *d = tmp_dir();
	struct unik_instance_status st;
	struct unik_error err;

	/* The guest's exit line wins over how the domain ended. */
	put(d, XEN_CONSOLE_FILE, "hello\r\nunik: exit status 7\r\n");
	put(d, XEN_EXIT_FILE, "reason=poweroff\naction=destroy\n");
	xen_ended_status(d, &st);
	assert_int_equal(st.state, UNIK_STATE_EXITED);
	assert_int_equal(st.exit_code, 7);

	put(d, XEN_CONSOLE_FILE, "unik: crash: page fault at 0x0\nunik: exit status 255\n");
	xen_ended_status(d, &st);
	assert_int_equal(st.state, UNIK_STATE_CRASHED);
	assert_int_equal(st.exit_code, 255);
	assert_string_equal(st.detail, "unik: crash: page fault at 0x0");

	/* No exit line: the shutdown reason says what happened. */
	put(d, XEN_CONSOLE_FILE, "booting\n");
	put(d, XEN_EXIT_FILE, "reason=crash\naction=preserve\n");
	xen_ended_status(d, &st);
	assert_int_equal(st.state, UNIK_STATE_CRASHED);
	assert_int_equal(st.exit_code, -1);
	assert_non_null(strstr(st.detail, "reason crash"));
	assert_non_null(strstr(st.detail, "on_crash: preserve"));

	put(d, XEN_EXIT_FILE, "reason=poweroff\naction=destroy\n");
	xen_ended_status(d, &st);
	assert_non_null(strstr(st.detail, "on_poweroff: destroy"));

	put(d, XEN_EXIT_FILE, "reason=gone\naction=none\n");
	xen_ended_status(d, &st);
	assert_non_null(strstr(st.detail, "gone"));

	put(d, XEN_STOPPED_FILE, "stopped on request\n");
	xen_ended_status(d, &st);
	assert_int_equal(st.state, UNIK_STATE_STOPPED);

	assert_int_equal(unik_rmtree(d, &err), 0);
}

static void test_state_read(void **state)
{
	(void)state;
	_cleanup_free_ char *d = tmp_dir();
	struct xen_state s;
	struct unik_error err;

	assert_int_equal(xen_state_read(d, &s, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	put(d, XEN_STATE_FILE,
	    "provider=xen\ninstance_id=0123456789ab\ndomid=7\nname=unik-x-0123456789ab\n"
	    "uuid=" TEST_UUID "\non_poweroff=destroy\non_reboot=destroy\non_crash=preserve\n");
	assert_int_equal(xen_state_read(d, &s, &err), 0);
	assert_int_equal(s.domid, 7);
	assert_string_equal(s.name, "unik-x-0123456789ab");
	assert_string_equal(s.uuid, TEST_UUID);
	assert_string_equal(s.on_crash, "preserve");
	put(d, XEN_STATE_FILE, "provider=xen\ndomid=-1\n");
	assert_int_equal(xen_state_read(d, &s, &err), -1);
	assert_int_equal(err.code, UNIK_E_STATE);
	assert_int_equal(unik_rmtree(d, &err), 0);
}

/* ---- the provider on this host ------------------------------------------------------------- */

static void test_registry(void **state)
{
	(void)state;
	const struct unik_provider *p = unik_provider_find("xen");

	assert_ptr_equal(p, &unik_provider_xen);
	assert_string_equal(p->image_format, "elf");
	assert_string_equal(p->opt_keys[0], "vcpus");
	assert_non_null(p->status);
	assert_non_null(p->stop);
	assert_non_null(p->remove);
}

/* Where /proc/xen/capabilities is missing, libxl cannot work: available() says so with libxl's
 * words, at once, and run() fails the same way and leaves nothing behind. */
static void test_unavailable_without_xen(void **state)
{
	(void)state;
	const char *opts[] = {NULL};
	char reason[512] = "", reason2[512] = "";
	struct unik_run_spec spec = {
	    .instance_id = "0123456789ab",
	    .instance_name = "t",
	    .kernel = "/nonexistent/kernel.elf",
	    .cmdline = "",
	    .memory_mb = 64,
	    .opts = opts,
	};
	struct unik_instance_status st;
	struct unik_error err = {0};
	_cleanup_free_ char *d = NULL;
	long long t0;
	DIR *dh;
	struct dirent *e;

	if (access("/proc/xen/capabilities", F_OK) == 0)
		skip(); /* a Xen host: nothing to check here */
	t0 = unik_now_us();
	assert_false(unik_provider_xen.available(opts, reason, sizeof(reason)));
	assert_false(unik_provider_xen.available(opts, reason2, sizeof(reason2)));
	/* Cached or not, a refusal takes milliseconds, never seconds. */
	assert_true(unik_now_us() - t0 < 1000000);
	assert_string_equal(reason, reason2);
	assert_non_null(strstr(reason, "libxl"));
	assert_non_null(strstr(reason, "not running the Xen hypervisor"));

	d = tmp_dir();
	spec.instance_dir = d;
	assert_int_equal(unik_provider_xen.run(NULL, &spec, &st, &err), -1);
	assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
	assert_non_null(strstr(err.msg, reason));
	dh = opendir(d);
	assert_non_null(dh);
	while ((e = readdir(dh)))
		if (e->d_name[0] != '.')
			fail_msg("run() left %s behind", e->d_name);
	closedir(dh);
	assert_int_equal(unik_rmtree(d, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_hello),       cmocka_unit_test(test_json_ramdisk_quotes),
	    cmocka_unit_test(test_json_big_memory),  cmocka_unit_test(test_json_disk_coredump),
	    cmocka_unit_test(test_json_fields),      cmocka_unit_test(test_build_refuses),
	    cmocka_unit_test(test_domain_name),      cmocka_unit_test(test_options),
	    cmocka_unit_test(test_ended_status),     cmocka_unit_test(test_state_read),
	    cmocka_unit_test(test_registry),         cmocka_unit_test(test_unavailable_without_xen),
	    cmocka_unit_test(test_json_devices),     cmocka_unit_test(test_devices_refused),
	    cmocka_unit_test(test_json_net),         cmocka_unit_test(test_ports_refused),
	    cmocka_unit_test(test_json_includeos),   cmocka_unit_test(test_json_mirage),
	    cmocka_unit_test(test_no_unread_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
