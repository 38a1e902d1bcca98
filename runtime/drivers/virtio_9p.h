/* virtio-9p: the transport under the 9P client (fs/9p.c).  One channel per device, found by its
 * mount tag; one request in flight at a time, the others wait their turn. */
#ifndef UNIK_RT_VIRTIO_9P_H
#define UNIK_RT_VIRTIO_9P_H

#include "kernel/sched.h"

struct p9_chan;

/* The channel whose mount tag is tag, or NULL.  The first call probes the devices.  buf_size is
 * the largest message either way the channel's buffers hold (the msize to ask for). */
struct p9_chan *virtio_9p_find(const char *tag);
uint32_t virtio_9p_buf_size(struct p9_chan *c);

/* A request: p9_chan_begin waits for the channel and returns its request buffer (buf_size
 * bytes); p9_chan_rpc sends the len bytes written there and waits for the answer, which it
 * returns (its length in *rlen) and which stays valid until p9_chan_end lets the next one
 * through.  Signals wait meanwhile: the device owns the buffers until it answers. */
uint8_t *p9_chan_begin(struct p9_chan *c);
const uint8_t *p9_chan_rpc(struct p9_chan *c, uint32_t len, uint32_t *rlen);
void p9_chan_end(struct p9_chan *c);

#endif
