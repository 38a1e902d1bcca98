/* What a build produced: see artifacts.h. */
#include "lib/artifacts.h"

#include <stdlib.h>
#include <string.h>

static const char *const platform_names[UNIK_PLATFORMS] = {
    [UNIK_PLATFORM_PVH] = "pvh",
    [UNIK_PLATFORM_XEN] = "xen",
    [UNIK_PLATFORM_SPT] = "spt",
    [UNIK_PLATFORM_HVT] = "hvt",
};

const char *unik_platform_name(enum unik_platform p)
{
	return (unsigned)p < UNIK_PLATFORMS ? platform_names[p] : NULL;
}

int unik_platform_parse(const char *name)
{
	for (int i = 0; name && i < UNIK_PLATFORMS; i++)
		if (strcmp(name, platform_names[i]) == 0)
			return i;
	return -1;
}

void unik_artifacts_free(struct unik_artifacts *a)
{
	/* The fields are const for the packers that only read them; build() made them. */
	free((char *)a->kernel);
	free((char *)a->rootfs);
	free((char *)a->cmdline);
	free((char *)a->name);
	free((char *)a->base);
	free((char *)a->language);
	free((char *)a->compiler);
	memset(a, 0, sizeof(*a));
}
