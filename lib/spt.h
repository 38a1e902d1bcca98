/* The host side of include/unik/spt.h: how bin/unik-spt (and the spt provider) describe a
 * unix-target application's devices to it.  Code above lib/ reads the guest ABI here. */
#ifndef UNIK_LIB_SPT_H
#define UNIK_LIB_SPT_H

#include <stdbool.h>
#include <stdint.h>

#define UNIK_SPT_FD_FIRST    3         /* include/unik/spt.h's UNIK_SPT_FD_BASE */
#define UNIK_SPT_DEVICES_MAX 16        /* UNIK_SPT_MAX_DEV */
#define UNIK_SPT_SECTOR      512       /* UNIK_SECTOR_SIZE */
extern const char unik_spt_env_name[]; /* UNIK_SPT_ENV */

/* The environment word of a net device, "net:NAME:MAC:MTU:CONFIG" (config may be "").  Caller
 * frees. */
char *unik_spt_net_word(const char *name, const uint8_t mac[6], unsigned mtu, const char *config);
/* The word of a block device, "blk:NAME:SECTORS:ro|rw".  Caller frees. */
char *unik_spt_blk_word(const char *name, uint64_t sectors, bool readonly);

#endif
