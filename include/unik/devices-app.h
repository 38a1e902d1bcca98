/* The device application API of the `mirage` backend (docs/backends/mirage.md): an application is
 * unik_app_main() over the devices its Unikfile declares, by name, and nothing else: a console, raw
 * Ethernet frames on each net device, sectors on each block device, two clocks and one call that
 * sleeps until a device is ready.  It is MirageOS's model on Solo5's five-call interface, in C.
 *
 * A build of the mirage backend links the application with this library and with the runtime's
 * device variant (no POSIX file systems, no TCP/IP stack, no threads to speak of): the calls below
 * are the whole interface between the application and its host.  Nothing here blocks except
 * unik_yield. */
#ifndef UNIK_DEVICES_APP_H
#define UNIK_DEVICES_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A device the application acquired, by its declared name.  Handles are small numbers (below
 * UNIK_APP_HANDLES), so that unik_yield can report ready devices as a bit set. */
typedef uint64_t unik_handle_t;
typedef uint64_t unik_handle_set_t; /* bit h set: handle h */
#define UNIK_APP_HANDLES 64

/* Nanoseconds. */
typedef uint64_t unik_time_t;

typedef enum {
	UNIK_R_OK = 0,
	UNIK_R_AGAIN,  /* nothing to read now: unik_yield until the device is ready */
	UNIK_R_EINVAL, /* a bad argument: an unknown or undeclared name, a bad handle, a size */
	UNIK_R_EUNSPEC /* the device failed */
} unik_result_t;

/* What the application starts with.  argv holds the instance's arguments (the Unikfile's args:
 * and those of `unik run`), argv[0] the image's name. */
struct unik_app_info {
	int argc;
	char **argv;
};

/* The application's entry point, which it defines; its return value is the instance's exit
 * status. */
int unik_app_main(const struct unik_app_info *info);

/* Ends the application now with status. */
__attribute__((noreturn)) void unik_exit(int status);

/* Writes len bytes to the console (the instance's log). */
void unik_console_write(const char *buf, size_t len);

/* ---- net: raw Ethernet frames ---- */

struct unik_net_info {
	uint8_t mac[6];
	size_t mtu; /* the largest payload of a frame (1500); a frame is mtu + 14 bytes at most */
	/* The IPv4 configuration the host gave the device (`unik run --net NAME=NETWORK` on a
	 * network hands out an address), network byte order; has_ip false when it gave none. */
	bool has_ip;
	uint32_t ip, netmask, gateway;
	int prefix;
};

/* Acquires the net device declared as name and describes it; UNIK_R_EINVAL when the image
 * declares no net device of that name. */
unik_result_t unik_net_info(const char *name, unik_handle_t *h, struct unik_net_info *info);
/* Sends one Ethernet frame (destination, source, type, payload; no FCS). */
unik_result_t unik_net_write(unik_handle_t h, const uint8_t *buf, size_t size);
/* Takes the next received frame into buf (size: at least mtu + 14); UNIK_R_AGAIN when none. */
unik_result_t unik_net_read(unik_handle_t h, uint8_t *buf, size_t size, size_t *read_size);

/* ---- block: sectors ---- */

#define UNIK_SECTOR_SIZE 512

struct unik_block_info {
	uint64_t capacity;   /* bytes */
	uint64_t block_size; /* UNIK_SECTOR_SIZE */
	bool readonly;
};

/* Acquires the block device declared as name; UNIK_R_EINVAL when there is none. */
unik_result_t unik_block_info(const char *name, unik_handle_t *h, struct unik_block_info *info);
/* Reads or writes count sectors from sector on; the transfer is done when the call returns. */
unik_result_t unik_block_read(unik_handle_t h, uint64_t sector, void *buf, size_t count);
unik_result_t unik_block_write(unik_handle_t h, uint64_t sector, const void *buf, size_t count);

/* ---- clocks and waiting ---- */

/* Time since an arbitrary point, never going back. */
unik_time_t unik_clock_monotonic(void);
/* Time since the Unix epoch. */
unik_time_t unik_clock_wall(void);

/* Sleeps until a net device has a frame to read or the monotonic deadline passes (at once when
 * one already has); *ready (may be NULL) gets the handles that have. */
void unik_yield(unik_time_t deadline, unik_handle_set_t *ready);

#endif
