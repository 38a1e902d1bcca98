/* Unit tests for the targets that run on their own monitor: lib/guest_elf's target <-> provider
 * table and the target an application's notes say, and providers/spt's table of process
 * monitors (spt, hvt), which must agree with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/guest_elf.h"
#include "providers/spt/spt.h"

static void test_target_provider_table(void **state)
{
	(void)state;
	assert_string_equal(unik_target_monitor_provider("unix"), "spt");
	assert_string_equal(unik_target_monitor_provider("hvt"), "hvt");
	assert_null(unik_target_monitor_provider("virtio"));
	assert_null(unik_target_monitor_provider("xen"));
	assert_null(unik_target_monitor_provider(NULL));
	assert_string_equal(unik_monitor_provider_target("spt"), "unix");
	assert_string_equal(unik_monitor_provider_target("hvt"), "hvt");
	assert_null(unik_monitor_provider_target("qemu"));
	assert_null(unik_monitor_provider_target(NULL));
}

static void test_app_target_from_notes(void **state)
{
	struct unik_guest_elf g = {.app = true, .load_start = 0x100000};

	(void)state;
	assert_string_equal(unik_guest_elf_app_target(&g), "unix");
	g.hvt_version = 1;
	assert_string_equal(unik_guest_elf_app_target(&g), "hvt");
	g.hvt_version = 0;
	g.pvh = true;
	g.abi_version = 2;
	assert_string_equal(unik_guest_elf_app_target(&g), "virtio");
	g.abi_version = 0; /* PVH without the unik note: nothing a target makes */
	assert_null(unik_guest_elf_app_target(&g));
	g.pvh = false;
	g.hvt_version = 1;
	g.abi_version = 2; /* the hvt note on a unik kernel without PVH: neither */
	assert_null(unik_guest_elf_app_target(&g));
	g.abi_version = 0;
	g.app = false;
	assert_null(unik_guest_elf_app_target(&g));
}

static void test_monitor_table(void **state)
{
	(void)state;
	assert_int_equal(spt_nmonitors, 2);
	for (size_t i = 0; i < spt_nmonitors; i++) {
		const struct spt_monitor *m = &spt_monitors[i];

		assert_ptr_equal(spt_monitor_find(m->provider), m);
		/* The provider's table and lib/guest_elf's say the same. */
		assert_string_equal(unik_target_monitor_provider(m->target), m->provider);
		assert_string_equal(unik_monitor_provider_target(m->provider), m->target);
	}
	assert_string_equal(spt_monitor_find("spt")->program, "unik-spt");
	assert_false(spt_monitor_find("spt")->needs_kvm);
	assert_string_equal(spt_monitor_find("hvt")->program, "unik-hvt");
	assert_string_equal(spt_monitor_find("hvt")->env, "UNIK_HVT");
	assert_true(spt_monitor_find("hvt")->needs_kvm);
	assert_null(spt_monitor_find("qemu"));
	assert_null(spt_monitor_find(NULL));
}

static void test_missing_monitor_reason(void **state)
{
	char reason[256];

	(void)state;
	setenv("UNIK_HVT", "/nonexistent/unik-hvt", 1);
	assert_false(spt_monitor_available(spt_monitor_find("hvt"), reason, sizeof(reason)));
	assert_non_null(strstr(reason, "unik-hvt was not found (set UNIK_HVT"));
	unsetenv("UNIK_HVT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_target_provider_table),
	    cmocka_unit_test(test_app_target_from_notes),
	    cmocka_unit_test(test_monitor_table),
	    cmocka_unit_test(test_missing_monitor_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
