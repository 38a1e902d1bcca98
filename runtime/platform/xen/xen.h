/* Xen PVH support (xen.c): the PV console, shutdown, Xen's clock and memory map.  Every function
 * is a cheap no-op returning false, 0 or NULL when the runtime is not running under Xen. */
#ifndef UNIK_RT_XEN_H
#define UNIK_RT_XEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "platform/xen/xen_abi.h"

/* Detects Xen (one CPUID elsewhere), installs the hypercall page and maps the console ring.
 * Runs first thing in ring 0; true when the PV console is ready. */
bool xen_console_init(void);
void xen_console_write(const char *buf, size_t len);
bool xen_console_readable(void);
size_t xen_console_read(char *buf, size_t len);
/* Ring 0: drains the console (bounded) and asks Xen to power off, or to record a crash.  Returns
 * only when not under Xen or when Xen refused. */
void xen_shutdown(bool crashed);
/* After mem_init: maps the shared info page over a page of RAM and returns vCPU 0's time info (the
 * pvclock layout) with the wall clock at system time 0 in *wall_ns; NULL when not under Xen. */
const void *xen_clock(int64_t *wall_ns);
/* The E820 map from XENMEM_memory_map, for PVH start info without one (version 0), into buf:
 * the number of entries, 0 if none. */
int xen_memory_map(struct unik_xen_e820 *buf, int max);

#endif
