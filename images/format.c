/* The compiled-in image formats. */
#include "images/format.h"

#include <string.h>

extern const struct unik_image_format unik_image_format_elf;

const struct unik_image_format *const unik_image_formats[] = {
    &unik_image_format_elf,
    NULL,
};

const struct unik_image_format *unik_image_format_find(const char *name)
{
	for (size_t i = 0; unik_image_formats[i]; i++)
		if (strcmp(unik_image_formats[i]->name, name) == 0)
			return unik_image_formats[i];
	return NULL;
}
