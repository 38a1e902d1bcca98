/* Unit tests for the kvm provider's pure parts: the libvirt domain XML against golden files
 * (tests/data/kvm/NAME.xml, UNIK_TEST_REGENERATE=1 rewrites them), XML escaping, domain names,
 * reading the unik metadata back, and the registry entry. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define GOLDEN_SUBDIR "kvm"
#include "tests/unit/golden.h"

#include "providers/kvm/kvm.h"
#include "providers/provider.h"

static const struct kvm_domain_params base = {
    .name = "unik-hello-0123456789ab",
    .type = "kvm",
    .machine = "microvm",
    .instance_id = "0123456789ab",
    .image_id = "ba9876543210",
    .kernel = "/var/lib/unik-vm/0123456789ab/kernel",
    .cmdline = "GREETING='hello world' hello --flag \"two words\"",
    .console = "/var/lib/unik/instances/0123456789ab/console.log",
    .memory_mb = 128,
    .dac_label = "+64055:+64055",
};

static void golden_case(const char *name, const struct kvm_domain_params *p)
{
	_cleanup_free_ char *xml = NULL;
	struct unik_error err;

	assert_int_equal(kvm_domain_xml(p, &xml, &err), 0);
	check_golden_text(name, xml);
}

static void test_xml_kvm(void **state)
{
	(void)state;
	golden_case("kvm-microvm.xml", &base);
}

static void test_xml_tcg_initrd(void **state)
{
	struct kvm_domain_params p = base;

	(void)state;
	p.type = "qemu";
	p.initrd = "/var/lib/unik-vm/0123456789ab/initrd";
	golden_case("tcg-initrd.xml", &p);
}

/* A session daemon: no DAC label; machine pc; the image's default command line; no image id. */
static void test_xml_session_pc(void **state)
{
	struct kvm_domain_params p = base;

	(void)state;
	p.machine = "pc";
	p.cmdline = "";
	p.image_id = NULL;
	p.dac_label = NULL;
	p.memory_mb = 64;
	golden_case("session-pc.xml", &p);
}

/* A disk boot: machine pc, firmware and GRUB, the disk read-only on virtio, no kernel. */
static void test_xml_disk(void **state)
{
	struct kvm_domain_params p = base;
	_cleanup_free_ char *xml = NULL;
	struct unik_error err;

	(void)state;
	p.type = "qemu";
	p.machine = "pc";
	p.kernel = NULL;
	p.disk = "/var/lib/unik-vm/0123456789ab/disk";
	p.disk_format = "qcow2";
	golden_case("disk-pc.xml", &p);
	p.machine = "microvm";
	assert_int_equal(kvm_domain_xml(&p, &xml, &err), -1);
	assert_non_null(strstr(err.msg, "firmware"));
}

/* Every value that reaches the XML is escaped: a command line and paths full of markup. */
static void test_xml_escaped(void **state)
{
	struct kvm_domain_params p = base;
	_cleanup_free_ char *xml = NULL;
	struct unik_error err;

	(void)state;
	p.cmdline = "app '<&>' \"it's\" a&b <tag attr='x'>";
	p.kernel = "/home/o'brien/<unik>&/kernel.elf";
	p.console = "/home/o'brien/\"q\"/console.log";
	p.initrd = "/r&d/root.cpio";
	p.machine = "q35";
	golden_case("escaped.xml", &p);
	assert_int_equal(kvm_domain_xml(&p, &xml, &err), 0);
	assert_non_null(strstr(xml, "<cmdline>app &apos;&lt;&amp;&gt;&apos; &quot;it&apos;s&quot; "
	                            "a&amp;b &lt;tag attr=&apos;x&apos;&gt;</cmdline>"));
	assert_null(strstr(xml, "o'brien"));
	assert_null(strstr(xml, "<unik>"));
}

/* Every kind of device: a tap, a bridge and user-mode networking, a writable raw and a
 * read-only qcow2 disk, a writable and a read-only share; markup in the values. */
static const struct unik_device all_devices[] = {
    {.kind = UNIK_DEVICE_NET, .name = "net0", .mac = "52:54:00:12:34:56"},
    {.kind = UNIK_DEVICE_NET, .name = "lan", .tap = "tap-lan", .mac = "52:54:00:ab:cd:ef"},
    {.kind = UNIK_DEVICE_NET, .name = "back", .network = "br-back", .mac = "52:54:00:00:00:02"},
    {.kind = UNIK_DEVICE_BLK,
     .name = "data",
     .path = "/var/lib/unik/volumes/data&more.raw",
     .format = "raw",
     .mount = "/data"},
    {.kind = UNIK_DEVICE_BLK,
     .name = "seed",
     .path = "/var/lib/unik/volumes/seed.qcow2",
     .format = "qcow2",
     .readonly = true},
    {.kind = UNIK_DEVICE_FS, .name = "share", .path = "/srv/o'share", .mount = "/mnt/share"},
    {.kind = UNIK_DEVICE_FS, .name = "conf", .path = "/etc/app", .readonly = true},
};

static void devices_case(const char *name, const char *machine, const char *disk)
{
	struct kvm_domain_params p = base;

	p.machine = machine;
	p.devices = all_devices;
	p.ndevices = sizeof(all_devices) / sizeof(all_devices[0]);
	if (disk) {
		p.kernel = NULL;
		p.disk = disk;
		p.disk_format = "qcow2";
	}
	golden_case(name, &p);
}

/* virtio-mmio addresses on microvm, which has no PCI bus. */
static void test_xml_devices_microvm(void **state)
{
	(void)state;
	devices_case("devices-microvm.xml", "microvm", NULL);
}

/* PCI slots of libvirt's choosing on pc and q35, no option ROM on the NICs. */
static void test_xml_devices_pc(void **state)
{
	(void)state;
	devices_case("devices-pc.xml", "pc", NULL);
}

static void test_xml_devices_q35(void **state)
{
	(void)state;
	devices_case("devices-q35.xml", "q35", NULL);
}

/* Booting a disk: it is vda, the volumes vdb on. */
static void test_xml_devices_disk_boot(void **state)
{
	(void)state;
	devices_case("devices-disk-pc.xml", "pc", "/var/lib/unik-vm/0123456789ab/disk");
}

/* The NICs as the core fills them in: a network's bridge (the bridge named, not the network)
 * with a static address, an existing tap, and user-mode networking with QEMU's addresses.  The
 * addresses reach the guest on its command line, not through the XML. */
static const struct unik_device net_devices[] = {
    {.kind = UNIK_DEVICE_NET,
     .name = "net0",
     .network = "backend",
     .bridge = "ukbr-backend",
     .ip = "10.93.1.2/24",
     .gateway = "10.93.1.1",
     .dns = "10.93.1.1",
     .mac = "52:54:00:00:00:01"},
    {.kind = UNIK_DEVICE_NET, .name = "lan", .tap = "uktap-lan", .mac = "52:54:00:00:00:02"},
    {.kind = UNIK_DEVICE_NET,
     .name = "user",
     .ip = "10.0.2.15/24",
     .gateway = "10.0.2.2",
     .dns = "10.0.2.3",
     .mac = "52:54:00:00:00:03"},
};

static void test_xml_net(void **state)
{
	struct kvm_domain_params p = base;

	(void)state;
	p.machine = "pc";
	p.devices = net_devices;
	p.ndevices = sizeof(net_devices) / sizeof(net_devices[0]);
	golden_case("net-pc.xml", &p);
	p.machine = "microvm";
	golden_case("net-microvm.xml", &p);
}

/* Published ports are refused on every kind of NIC, naming the port and what to do instead:
 * kvm has no forwarder, and this libvirt no passt. */
static void test_xml_ports_refused(void **state)
{
	static const struct unik_port port = {
	    .proto = UNIK_PORT_TCP, .host_ip = "127.0.0.1", .host_port = 8080, .guest_port = 80};
	struct unik_device d;
	struct kvm_domain_params p = base;
	char *xml = NULL;
	struct unik_error err;

	(void)state;
	p.devices = &d;
	p.ndevices = 1;
	for (size_t i = 0; i < sizeof(net_devices) / sizeof(net_devices[0]); i++) {
		d = net_devices[i];
		d.ports = &port;
		d.nports = 1;
		assert_int_equal(kvm_domain_xml(&p, &xml, &err), -1);
		assert_null(xml);
		assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
		assert_non_null(strstr(err.msg, "127.0.0.1:8080->80/tcp"));
		assert_non_null(strstr(err.msg, "qemu provider"));
		if (!d.tap && !d.bridge)
			assert_non_null(strstr(err.msg, "--network"));
		else
			assert_non_null(strstr(err.msg, "own address"));
	}
}

static void test_caps(void **state)
{
	const struct unik_provider *p = unik_provider_find("kvm");

	(void)state;
	assert_non_null(p);
	assert_true(unik_provider_attaches(p, UNIK_DEVICE_NET));
	assert_true(unik_provider_attaches(p, UNIK_DEVICE_BLK));
	assert_true(unik_provider_attaches(p, UNIK_DEVICE_FS));
}

static void test_xml_invalid(void **state)
{
	struct kvm_domain_params p;
	char *xml = (char *)"untouched";
	struct unik_error err;

	(void)state;
	p = base;
	p.memory_mb = 0;
	assert_int_equal(kvm_domain_xml(&p, &xml, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_null(xml);
	p = base;
	p.type = "xen";
	assert_int_equal(kvm_domain_xml(&p, &xml, &err), -1);
	assert_non_null(strstr(err.msg, "xen"));
	p = base;
	p.machine = "virt";
	assert_int_equal(kvm_domain_xml(&p, &xml, &err), -1);
	assert_non_null(strstr(err.msg, "microvm, pc or q35"));
	p = base;
	p.kernel = NULL;
	assert_int_equal(kvm_domain_xml(&p, &xml, &err), -1);
	p = base;
	p.name = "";
	assert_int_equal(kvm_domain_xml(&p, &xml, &err), -1);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static void expect_escape(const char *in, const char *want)
{
	_cleanup_free_ char *got = kvm_xml_escape(in);

	assert_string_equal(got, want);
}

static void test_escape(void **state)
{
	(void)state;
	expect_escape("", "");
	expect_escape("plain text/ok=1,2", "plain text/ok=1,2");
	expect_escape("<&>'\"", "&lt;&amp;&gt;&apos;&quot;");
	expect_escape("&amp;", "&amp;amp;");
	expect_escape("tab\tnl\n", "tab\tnl\n");
	/* Characters XML 1.0 cannot carry become U+FFFD. */
	expect_escape("a\x01z\x7f", "a\xef\xbf\xbdz\xef\xbf\xbd");
	expect_escape("caf\xc3\xa9", "caf\xc3\xa9");
}

static void expect_name(const char *name, const char *want)
{
	_cleanup_free_ char *got = kvm_domain_name(name, "0123456789ab");

	assert_string_equal(got, want);
}

static void test_domain_name(void **state)
{
	(void)state;
	expect_name("hello", "unik-hello-0123456789ab");
	expect_name("My App_1.2", "unik-My-App_1.2-0123456789ab");
	expect_name("a/b<c>", "unik-a-b-c-0123456789ab");
	expect_name("", "unik-0123456789ab");
	expect_name(NULL, "unik-0123456789ab");
	expect_name("///", "unik-0123456789ab");
	expect_name(".hidden.", "unik-hidden-0123456789ab");
	/* Cut to 32 characters of the name. */
	expect_name("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
	            "unik-abcdefghijklmnopqrstuvwxyz012345-0123456789ab");
}

static void expect_attr(const char *xml, const char *attr, const char *want)
{
	_cleanup_free_ char *got = kvm_xml_attr(xml, attr);

	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
}

static void test_xml_attr(void **state)
{
	/* As virDomainGetMetadata returns it: libvirt re-serialises with double quotes. */
	const char *meta = "<unik:instance xmlns:unik=\"https://github.com/unik/xmlns/1\" "
	                   "id=\"0123456789ab\" image=\"ba9876543210\"/>";

	(void)state;
	expect_attr(meta, "id", "0123456789ab");
	expect_attr(meta, "image", "ba9876543210");
	expect_attr(meta, "name", NULL);
	expect_attr("<x  image='a' id='q&amp;&apos;'/>", "id", "q&'");
	/* Only whole attribute names, and only in the first start tag. */
	expect_attr("<x xid='1'/>", "id", NULL);
	expect_attr("<x a='1'><y id='2'/></x>", "id", NULL);
	expect_attr(NULL, "id", NULL);
	expect_attr("", "id", NULL);
	expect_attr("<x id='unterminated", "id", NULL);
}

/* The XML's own metadata reads back through the same parser. */
static void test_metadata_roundtrip(void **state)
{
	_cleanup_free_ char *xml = NULL, *id = NULL, *image = NULL;
	struct unik_error err;
	const char *m;

	(void)state;
	assert_int_equal(kvm_domain_xml(&base, &xml, &err), 0);
	m = strstr(xml, "<unik:instance ");
	assert_non_null(m);
	id = kvm_xml_attr(m, "id");
	image = kvm_xml_attr(m, "image");
	assert_string_equal(id, "0123456789ab");
	assert_string_equal(image, "ba9876543210");
	assert_non_null(strstr(m, KVM_XMLNS));
}

static void test_registry(void **state)
{
	const struct unik_provider *p = unik_provider_find("kvm");
	bool has_uri = false;

	(void)state;
	assert_non_null(p);
	assert_string_equal(p->image_format, "elf");
	assert_non_null(p->start);
	assert_null(p->stage);
	for (size_t i = 0; p->opt_keys[i]; i++) {
		assert_non_null(p->opt_help[i]);
		has_uri |= !strcmp(p->opt_keys[i], "uri");
	}
	assert_true(has_uri);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xml_kvm),
	    cmocka_unit_test(test_xml_tcg_initrd),
	    cmocka_unit_test(test_xml_session_pc),
	    cmocka_unit_test(test_xml_escaped),
	    cmocka_unit_test(test_xml_disk),
	    cmocka_unit_test(test_xml_invalid),
	    cmocka_unit_test(test_xml_devices_microvm),
	    cmocka_unit_test(test_xml_devices_pc),
	    cmocka_unit_test(test_xml_devices_q35),
	    cmocka_unit_test(test_xml_devices_disk_boot),
	    cmocka_unit_test(test_xml_net),
	    cmocka_unit_test(test_xml_ports_refused),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_no_unread_golden),
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_domain_name),
	    cmocka_unit_test(test_xml_attr),
	    cmocka_unit_test(test_metadata_roundtrip),
	    cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
