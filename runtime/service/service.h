/* The includeos backend's event loop, shared by its files: loop.c runs the loop, timers and the
 * console; net.c binds TCP and UDP to lwIP's callback API.  lwIP calls net.c from interrupts
 * (a frame arriving while the loop halts), so net.c only records what happened there and the
 * loop hands it to the service, which always runs in the loop, interrupts off. */
#ifndef UNIK_RT_SERVICE_H
#define UNIK_RT_SERVICE_H

#include "kernel/kernel.h"

/* loop.c: there is work for the loop (called from lwIP's callbacks, interrupts included). */
void svc_kick(void);

/* net.c: hands what lwIP recorded to the service; true when it did anything. */
bool svc_net_dispatch(void);
/* net.c: whether any listener, connection or UDP socket is open. */
bool svc_net_busy(void);

#endif
