/* Unit tests for lib/devices: checking an instance's devices against a provider's capabilities,
 * the MACs unik derives, and the manifest words of guest ABI v2 (include/unik/devices.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/devices.h"
#include "lib/util.h"

#define ALL                                                                                        \
	(UNIK_DEVICE_BIT(UNIK_DEVICE_NET) | UNIK_DEVICE_BIT(UNIK_DEVICE_BLK) |                     \
	 UNIK_DEVICE_BIT(UNIK_DEVICE_FS))

static void test_kind_names(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(unik_device_kind_name(UNIK_DEVICE_NET), "net");
	assert_string_equal(unik_device_kind_name(UNIK_DEVICE_FS), "fs");
	assert_null(unik_device_kind_name(UNIK_DEVICE_KINDS));
	assert_int_equal(unik_device_kind_parse("blk"), UNIK_DEVICE_BLK);
	assert_int_equal(unik_device_kind_parse("disk"), -1);
	assert_int_equal(unik_device_kind_parse(NULL), -1);
	unik_device_caps_string(ALL, buf, sizeof(buf));
	assert_string_equal(buf, "net, blk, fs");
	unik_device_caps_string(UNIK_DEVICE_BIT(UNIK_DEVICE_CONSOLE), buf, sizeof(buf));
	assert_string_equal(buf, "none");
}

static void test_check(void **state)
{
	struct unik_device d[3] = {
	    {.kind = UNIK_DEVICE_NET, .name = "net0"},
	    {.kind = UNIK_DEVICE_BLK, .name = "data", .path = "/v/data.img", .format = "raw"},
	    {.kind = UNIK_DEVICE_NET, .name = "net1", .mac = "02:00:00:00:00:01"},
	};
	struct unik_device again[1] = {{.kind = UNIK_DEVICE_NET, .name = "net0"}};
	struct unik_error err = {0};

	(void)state;
	assert_int_equal(unik_devices_check(d, 3, ALL, "qemu", "0123456789ab", &err), 0);
	assert_string_equal(d[2].mac, "02:00:00:00:00:01"); /* given: kept */
	assert_true(unik_str_has_prefix(d[0].mac, "52:54:00:"));
	/* The same instance and index, the same MAC; another instance, another. */
	assert_int_equal(unik_devices_check(again, 1, ALL, "qemu", "0123456789ab", &err), 0);
	assert_string_equal(again[0].mac, d[0].mac);
	again[0].mac[0] = '\0';
	assert_int_equal(unik_devices_check(again, 1, ALL, "qemu", "ba9876543210", &err), 0);
	assert_string_not_equal(again[0].mac, d[0].mac);

	/* A kind the provider lacks: refused, naming what it has. */
	d[0].mac[0] = '\0';
	assert_int_equal(
	    unik_devices_check(d, 3, UNIK_DEVICE_BIT(UNIK_DEVICE_NET), "aws", "x", &err), -1);
	assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "provider aws cannot attach blk devices (\"data\")"));
	assert_non_null(strstr(err.msg, "it attaches: net"));
}

static void test_check_refusals(void **state)
{
	static const struct {
		struct unik_device d;
		const char *msg;
	} bad[] = {
	    {{.kind = UNIK_DEVICE_NET, .name = "Net0"}, "is not valid"},
	    {{.kind = UNIK_DEVICE_NET, .name = "0net"}, "is not valid"},
	    {{.kind = UNIK_DEVICE_NET, .name = "a-very-long-name"}, "is not valid"},
	    {{.kind = UNIK_DEVICE_NET, .name = ""}, "is not valid"},
	    {{.kind = UNIK_DEVICE_NET, .name = "hostname"}, "is reserved"},
	    {{.kind = UNIK_DEVICE_CONSOLE, .name = "c"}, "not a kind that can be attached"},
	    {{.kind = UNIK_DEVICE_BLK, .name = "d"}, "has no disk file"},
	    {{.kind = UNIK_DEVICE_FS, .name = "s"}, "has no host directory"},
	    {{.kind = UNIK_DEVICE_BLK, .name = "d", .path = "x", .format = "vmdk"},
	     "not raw or qcow2"},
	    {{.kind = UNIK_DEVICE_FS, .name = "s", .path = "/h", .mount = "data"},
	     "not an absolute"},
	    {{.kind = UNIK_DEVICE_NET, .name = "n", .mac = "01:00:00:00:00:01"}, "not a unicast"},
	    {{.kind = UNIK_DEVICE_NET, .name = "n", .mac = "52:54:00:00:00"}, "not a unicast"},
	    {{.kind = UNIK_DEVICE_NET, .name = "n", .mac = "52-54-00-00-00-01"}, "not a unicast"},
	};
	struct unik_device two[2] = {{.kind = UNIK_DEVICE_NET, .name = "n"},
	                             {.kind = UNIK_DEVICE_NET, .name = "n"}};
	struct unik_device many[17] = {{0}};
	struct unik_error err = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct unik_device d = bad[i].d;

		assert_int_equal(unik_devices_check(&d, 1, ALL, "qemu", "id", &err), -1);
		assert_int_equal(err.code, UNIK_E_INVALID);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i].msg);
	}
	assert_int_equal(unik_devices_check(two, 2, ALL, "qemu", "id", &err), -1);
	assert_non_null(strstr(err.msg, "two devices are named \"n\""));
	assert_int_equal(unik_devices_check(many, 17, ALL, "qemu", "id", &err), -1);
	assert_non_null(strstr(err.msg, "too many devices"));
}

static void test_cmdline(void **state)
{
	struct unik_device d[3] = {
	    {.kind = UNIK_DEVICE_NET, .name = "net0", .mac = "52:54:00:aa:bb:cc"},
	    {.kind = UNIK_DEVICE_BLK,
	     .name = "data",
	     .path = "/d",
	     .readonly = true,
	     .mount = "/data"},
	    {.kind = UNIK_DEVICE_FS, .name = "share", .path = "/h", .mount = "/my dir,x"},
	};
	_cleanup_free_ char *none = NULL, *words = NULL, *alone = NULL;

	(void)state;
	none = unik_devices_cmdline(NULL, 0, "A=1 app x");
	assert_string_equal(none, "A=1 app x");
	words = unik_devices_cmdline(d, 3, "A=1 app");
	assert_string_equal(words, "unik.dev.net0=net,mac=52:54:00:aa:bb:cc "
	                           "unik.dev.data=blk,ro,at=/data "
	                           "'unik.dev.share=fs,at=/my dir,x' A=1 app");
	alone = unik_devices_cmdline(d, 1, "");
	assert_string_equal(alone, "unik.dev.net0=net,mac=52:54:00:aa:bb:cc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kind_names),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_check_refusals),
	    cmocka_unit_test(test_cmdline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
