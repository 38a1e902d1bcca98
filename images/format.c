/* The compiled-in image formats. */
#include "images/format.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

extern const struct unik_image_format unik_image_format_elf;
extern const struct unik_image_format unik_image_format_raw, unik_image_format_qcow2,
    unik_image_format_vmdk, unik_image_format_vhd, unik_image_format_iso;
extern const struct unik_image_format unik_image_format_oci, unik_image_format_docker_archive;
extern const struct unik_image_format unik_image_format_xl;

const struct unik_image_format *const unik_image_formats[] = {
    &unik_image_format_elf,   &unik_image_format_raw,
    &unik_image_format_qcow2, &unik_image_format_vmdk,
    &unik_image_format_vhd,   &unik_image_format_iso,
    &unik_image_format_oci,   &unik_image_format_docker_archive,
    &unik_image_format_xl,    NULL,
};

const struct unik_image_format *unik_image_format_find(const char *name)
{
	for (size_t i = 0; unik_image_formats[i]; i++)
		if (strcmp(unik_image_formats[i]->name, name) == 0)
			return unik_image_formats[i];
	return NULL;
}

static char names[128];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_init(void)
{
	size_t used = 0;

	for (size_t i = 0; unik_image_formats[i] && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
		                         unik_image_formats[i]->name);
}

const char *unik_image_format_names(void)
{
	pthread_once(&names_once, names_init);
	return names;
}
