/* The part of <stdlib.h> lwIP calls (netif_find's atoi), for its freestanding build only; see
 * string.h beside it. */
#ifndef UNIK_LWIP_STDLIB_H
#define UNIK_LWIP_STDLIB_H

int atoi(const char *s);

#endif
