/* The guest's table of devices, from the manifest words at the start of the boot command line
 * (include/unik/devices.h, docs/guest-abi.md "Guest ABI v2: devices").  Recorded only: no driver
 * reads it yet.  Freestanding like cmdline.c, so tests/fuzz/fuzz_guest_cmdline.c compiles it for
 * the host too. */
#ifndef UNIK_RT_DEVICES_H
#define UNIK_RT_DEVICES_H

#include <stdbool.h>
#include <unik/devices.h>

struct rt_device {
	char name[UNIK_DEV_NAME_MAX + 1];
	enum unik_dev_kind kind;
	bool readonly;
	char mac[18];      /* net: "52:54:00:12:34:56", else empty */
	const char *mount; /* "at=": where it is to be mounted, or NULL; points into the word */
};

struct rt_devices {
	struct rt_device d[UNIK_DEV_MAX];
	int n;
	char hostname[UNIK_HOSTNAME_MAX + 1]; /* from unik.hostname=NAME; "" when none came */
};

/* Whether word is a manifest word (it starts with UNIK_DEV_WORD_PREFIX).  If so, it is taken:
 * added to t when well formed, else reported on the console as a "unik: " line and skipped.  The
 * word must outlive t (mount points into it).  A network configuration word is taken too, and
 * left alone (net/netif.c reads those from the boot line itself). */
bool devices_take_word(const char *word, struct rt_devices *t);

/* Whether word is a network configuration word, unik.NAME=... for a device NAME (net/netif.c
 * reads those from the raw boot line itself; cmdline_parse only keeps them out of argv). */
bool devices_is_net_word(const char *word);

/* Whether word is the hostname word, UNIK_HOSTNAME_WORD_PREFIX NAME ("hostname" is reserved:
 * never a device's network configuration). */
bool devices_is_hostname_word(const char *word);

#ifndef UNIK_CMDLINE_HOST
/* main.c: what this boot's command line declared. */
extern struct rt_devices boot_devices;
#endif

#endif
