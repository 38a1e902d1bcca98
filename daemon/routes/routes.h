/* The REST routes, one file per resource (docs/api/rest.md): each handler turns the request
 * into a typed core call and the typed result into JSON (daemon/json.c); compat.c serves the
 * original UniK's routes over the same core calls.  daemon/routes.c lists them all. */
#ifndef UNIK_DAEMON_ROUTES_H
#define UNIK_DAEMON_ROUTES_H

#include "daemon/http.h"
#include "daemon/internal.h"

/* Path segment i ("" past the end). */
static inline const char *seg(struct req *r, int i)
{
	return i < r->nseg ? r->segs[i] : "";
}

/* v1_system.c */
void v1_version(struct req *r);
void v1_daemon(struct req *r);
void v1_providers(struct req *r);
void v1_compilers(struct req *r);
void v1_compiler(struct req *r);
/* v1_builds.c */
void builds_post(struct req *r);
void builds_list(struct req *r);
void builds_get(struct req *r);
void builds_log(struct req *r);
/* v1_images.c */
void images_list(struct req *r);
void images_get(struct req *r);
void images_delete(struct req *r);
void images_format_get(struct req *r);
void images_format_post(struct req *r);
void images_rootfs(struct req *r);
/* v1_registry.c */
void images_push(struct req *r);
void images_pull(struct req *r);
/* v1_instances.c (stop, start, delete and logs serve UniK's routes too) */
void instances_list(struct req *r);
void instances_post(struct req *r);
void instances_get(struct req *r);
void instances_delete(struct req *r);
void instances_stop_h(struct req *r);
void instances_start_h(struct req *r);
void instances_logs(struct req *r);
void instances_wait(struct req *r);
void instances_stdin(struct req *r);
/* v1_networks.c */
void networks_list(struct req *r);
void networks_post(struct req *r);
void networks_get(struct req *r);
void networks_delete(struct req *r);
/* compat.c */
void u_images(struct req *r);
void u_image(struct req *r);
void u_image_delete(struct req *r);
void u_image_create(struct req *r);
void u_instances(struct req *r);
void u_run(struct req *r);
void u_instance(struct req *r);
void u_compilers(struct req *r);
void u_providers(struct req *r);
void u_describe_compiler(struct req *r);
void u_volumes_list(struct req *r);
void u_volume_create(struct req *r);
/* UniK's Volume for a /v1 volume's JSON (not consumed). */
json_t *unik_volume(const json_t *v);
/* v1_volumes.c (get, delete, attach and detach serve UniK's routes too) */
void volumes_list(struct req *r);
void volumes_post(struct req *r);
void volumes_get(struct req *r);
void volumes_delete(struct req *r);
void volumes_disk(struct req *r);
void volumes_attach(struct req *r);
void volumes_detach(struct req *r);

#endif
