/* The system calls behind include/unik/devices-app.h, shared by the runtime's side (app/app.c,
 * linked only into the device variant, unikrt-app.o) and the application's (app/lib.c, in
 * libunikapp.a).  The numbers lie above Linux's calls and below SYSCALL_MAX. */
#ifndef UNIK_RT_APPCALL_H
#define UNIK_RT_APPCALL_H

#include <stdint.h>

/* acquire(kind, name, struct appcall_info *) -> handle, or -ENOENT when the boot manifest has
 * no device of that kind and name. */
#define APPCALL_ACQUIRE 500
/* net_write(handle, frame, len) -> 0 */
#define APPCALL_NET_WRITE 501
/* net_read(handle, buf, size) -> the frame's length, -EAGAIN when none has arrived */
#define APPCALL_NET_READ 502
/* yield(deadline_ns) -> the bit set of handles with a frame waiting */
#define APPCALL_YIELD 503
/* blk_read(handle, sector, buf, count), blk_write(...) -> 0 */
#define APPCALL_BLK_READ  504
#define APPCALL_BLK_WRITE 505

#define APPCALL_KIND_NET 1 /* UNIK_DEV_NET */
#define APPCALL_KIND_BLK 2 /* UNIK_DEV_BLK */

struct appcall_info {
	uint8_t mac[6];
	uint16_t mtu;
	uint8_t readonly;
	uint8_t pad[7];
	uint64_t sectors;
	/* net: the value of the boot line's unik.NAME= word ("10.88.0.2/24,gw=10.88.0.1"), or
	 * empty. */
	char config[64];
};

#endif
