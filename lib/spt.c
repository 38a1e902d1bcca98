/* include/unik/spt.h's device words, for unik-spt (lib/spt.h). */
#include "lib/spt.h"

#include "lib/util.h"
#include "unik/devices-app.h"
#include "unik/spt.h"

_Static_assert(UNIK_SPT_FD_FIRST == UNIK_SPT_FD_BASE, "lib/spt.h and include/unik/spt.h");
_Static_assert(UNIK_SPT_DEVICES_MAX == UNIK_SPT_MAX_DEV, "lib/spt.h and include/unik/spt.h");
_Static_assert(UNIK_SPT_SECTOR == UNIK_SECTOR_SIZE, "lib/spt.h and include/unik/devices-app.h");

const char unik_spt_env_name[] = UNIK_SPT_ENV;

char *unik_spt_net_word(const char *name, const uint8_t mac[6], unsigned mtu, const char *config)
{
	return xasprintf("net:%s:%02x%02x%02x%02x%02x%02x:%u:%s", name, mac[0], mac[1], mac[2],
	                 mac[3], mac[4], mac[5], mtu, config);
}

char *unik_spt_blk_word(const char *name, uint64_t sectors, bool readonly)
{
	return xasprintf("blk:%s:%llu:%s", name, (unsigned long long)sectors,
	                 readonly ? "ro" : "rw");
}
