/* The guest ABI's limits that host code checks requests against (include/unik/abi.h), for the
 * doors above lib/ (cmd/), which may not include the guest ABI headers themselves. */
#ifndef UNIK_LIB_GUEST_ABI_H
#define UNIK_LIB_GUEST_ABI_H

/* The least guest memory, in MiB, that a host may start a unik guest with. */
int unik_guest_min_memory_mb(void);

#endif
