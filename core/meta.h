/* An image's metadata document, $UNIK_HOME/images/<id>/image.json, which is also the shape the
 * REST door shows an image in: one encoder for both, so they cannot drift apart. */
#ifndef UNIK_CORE_META_H
#define UNIK_CORE_META_H

#include <jansson.h>

#include "core/model.h"

/* The caller owns the result (json_decref). */
json_t *unik_image_meta_json(const struct unik_image *im);
/* {"NAME": "VALUE", ...} from NAME=VALUE words (env, provider options). */
json_t *unik_pairs_json(const struct strv *words);

#endif
