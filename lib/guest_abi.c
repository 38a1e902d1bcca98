/* The guest ABI's limits for host code above lib/ (see guest_abi.h). */
#include "lib/guest_abi.h"

#include "unik/abi.h"

int unik_guest_min_memory_mb(void)
{
	return UNIK_MIN_MEMORY_MB;
}
