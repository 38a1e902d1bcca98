/* unik-shim's port forwarder: published ports of a NIC on a network (a bridge), where QEMU's
 * user-mode hostfwd does not apply.  Every listening socket is bound before QEMU starts, so a
 * port in use fails the run; then one thread relays TCP connections and UDP datagrams between
 * the host's port and the guest's address for as long as the shim lives. */
#ifndef UNIK_SHIM_FORWARD_H
#define UNIK_SHIM_FORWARD_H

#include "lib/error.h"

/* Takes one "tcp|udp:HOSTIP:HOSTPORT:GUESTIP:GUESTPORT" (HOSTIP may be empty: every address).
 * -1 with err (UNIK_E_INVALID) on a malformed one. */
int fwd_add(const char *spec, struct unik_error *err);

/* Binds every port taken by fwd_add.  A port in use is UNIK_E_EXISTS naming it; on failure no
 * socket is left open. */
int fwd_bind(struct unik_error *err);

/* Starts relaying in a thread of its own, logging its rare troubles to log_fd.  Nothing to do
 * without forwards. */
int fwd_start(int log_fd, struct unik_error *err);

#endif
