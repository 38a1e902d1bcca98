/* Unit tests for lib/guest_abi: the guest ABI's limits as host code above lib/ sees them, which
 * must be the numbers of include/unik/abi.h and enough for the smallest real guest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/guest_abi.h"
#include "unik/abi.h"

static void test_min_memory(void **state)
{
	(void)state;
	assert_int_equal(unik_guest_min_memory_mb(), UNIK_MIN_MEMORY_MB);
	/* The kernel loads at UNIK_LOAD_ADDR: less RAM than that holds no kernel at all. */
	assert_true((long long)unik_guest_min_memory_mb() << 20 > UNIK_LOAD_ADDR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_min_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
