/* How bin/unik-spt hands a unix-target device application (docs/backends/mirage.md, "Targets")
 * its devices: the contract between cmd/unik-spt/ and runtime/app/lib-unix.c (libunikapp-unix.a).
 *
 * Device i of the ones the application declares (UNIK_NOTE_APP_DEVICES, in note order) is open
 * at descriptor UNIK_SPT_FD_BASE + i, and its handle is i.  The environment variable
 * UNIK_SPT_ENV describes them, one word per device in the same order, words separated by one
 * space:
 *
 *   net:NAME:MAC:MTU:CONFIG    MAC as 12 hex digits, MTU decimal, CONFIG the device's IPv4
 *                              configuration ("10.0.0.2/24,gw=10.0.0.1", docs/guest-abi.md) or
 *                              empty; the descriptor is a tap (IFF_TAP | IFF_NO_PI), non-blocking
 *   blk:NAME:SECTORS:MODE      SECTORS decimal (512 bytes each), MODE "ro" or "rw"; the
 *                              descriptor is the backing file, opened O_RDONLY or O_RDWR
 *
 * The console is descriptor 1. */
#ifndef UNIK_SPT_H
#define UNIK_SPT_H

#define UNIK_SPT_FD_BASE 3
#define UNIK_SPT_ENV     "UNIK_SPT_DEVICES"
#define UNIK_SPT_MAX_DEV 16

#endif
