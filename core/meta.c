/* image.json and the REST form of an image (core/meta.h). */
#include "core/meta.h"

#include <string.h>

json_t *unik_pairs_json(const struct strv *words)
{
	json_t *o = json_object();

	for (size_t i = 0; i < words->n; i++) {
		const char *eq = strchr(words->v[i], '=');
		_cleanup_free_ char *k = NULL;

		if (!eq)
			continue;
		k = xstrndup(words->v[i], (size_t)(eq - words->v[i]));
		json_object_set_new(o, k, json_string(eq + 1));
	}
	return o;
}

json_t *unik_image_meta_json(const struct unik_image *im)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(im->id));
	json_object_set_new(o, "name", json_string(im->name));
	json_object_set_new(o, "base", json_string(im->base));
	json_object_set_new(o, "language", json_string(im->language));
	json_object_set_new(o, "compiler", json_string(im->compiler));
	if (im->target)
		json_object_set_new(o, "target", json_string(im->target));
	json_object_set_new(o, "provider", json_string(im->provider));
	json_object_set_new(o, "created", json_string(im->created));
	json_object_set_new(o, "size_bytes",
	                    json_integer((json_int_t)(im->elf_size + im->rootfs_size)));
	{
		json_t *f = json_object();

		for (size_t i = 0; i < im->formats.n; i++)
			json_object_set_new(
			    f, im->formats.v[i].name,
			    json_pack("{s:I}", "size_bytes", (json_int_t)im->formats.v[i].size));
		if (!json_object_get(f, "elf"))
			json_object_set_new(
			    f, "elf", json_pack("{s:I}", "size_bytes", (json_int_t)im->elf_size));
		json_object_set_new(o, "formats", f);
	}
	json_object_set_new(o, "rootfs_bytes", json_integer((json_int_t)im->rootfs_size));
	json_object_set_new(o, "args", json_string(im->args ? im->args : ""));
	json_object_set_new(o, "env", unik_pairs_json(&im->env));
	json_object_set_new(o, "memory_mb", json_integer(im->memory_mb));
	json_object_set_new(o, "build", im->build_id ? json_string(im->build_id) : json_null());
	return o;
}
