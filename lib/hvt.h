/* The host's side of include/unik/hvt.h, the ABI between unik-hvt and its guests: the header
 * itself, and the device kinds of a kernel's declaration (lib/guest_elf.h, UNIK_DEV_NET and
 * UNIK_DEV_BLK of include/unik/devices.h) in the boot information's terms. */
#ifndef UNIK_LIB_HVT_H
#define UNIK_LIB_HVT_H

#include <stdint.h>

#include "unik/devices.h"
#include "unik/hvt.h"

/* UNIK_HVT_DEV_NET or UNIK_HVT_DEV_BLK for a declared device's kind; 0 for any other. */
static inline uint32_t unik_hvt_dev_kind(unsigned dev_kind)
{
	return dev_kind == UNIK_DEV_NET   ? UNIK_HVT_DEV_NET
	       : dev_kind == UNIK_DEV_BLK ? UNIK_HVT_DEV_BLK
	                                  : 0;
}

#endif
