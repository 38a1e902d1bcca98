/* The store: the model's records in SQLite ($UNIK_HOME/unik.db, WAL), one typed column per
 * field and lists in child tables, under a schema version (PRAGMA user_version) that
 * migrations bring up to date when the store opens.  The core writes a change through before it
 * acknowledges it, so a daemon killed at any moment loses nothing it had acknowledged.
 *
 * Schema (version 3):
 *   images(id, name, seq, base, language, compiler, provider, args, created, build_id,
 *          memory_mb, elf_size, rootfs_size)      image_env(image_id, pos, name, value)
 *                                                 image_formats(image_id, pos, format, size)
 *   builds(id, image, seq, image_id, state, error, created, finished)
 *   instances(id, name, seq, image, image_id, provider, args, cmdline, created, started,
 *             finished, state, exit_code, pid, ip, detail, handle, handle_id, memory_mb)
 *                                                 instance_env(instance_id, pos, name, value)
 *                                                 instance_opts(instance_id, pos, key, value)
 *   volumes(id, name, seq, created, format, size_mb, instance_id, mount)
 * Version 2 adds:
 *   networks(id, name, seq, created, subnet, gateway, bridge)
 *   instance_nics(instance_id, pos, network, ip, mac)   (network NULL: user-mode)
 *   instance_ports(instance_id, pos, proto, host_ip, host_port, guest_port)
 *   instance_mounts(instance_id, pos, volume, host_path, at, readonly)  (one of volume and
 *                   host_path: a volume's name, or a host share's directory)
 * Version 3 adds:
 *   networks.dhcp (1: the daemon runs dnsmasq on the network's bridge; 0 for older rows)
 * Version 0 is the daemon's layout before the typed store: images, builds and instances with
 * columns id, name, seq, json (the REST JSON of the record); its user_version was 0. */
#ifndef UNIK_CORE_STORE_H
#define UNIK_CORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "lib/error.h"

#define UNIK_STORE_SCHEMA_VERSION 3

struct unik_store;

/* What a store holds, in creation order (seq); the caller owns the records and the arrays. */
struct unik_store_contents {
	struct unik_image **images;
	size_t nimages;
	struct unik_build **builds;
	size_t nbuilds;
	struct unik_instance **instances;
	size_t ninstances;
	struct unik_volume **volumes;
	size_t nvolumes;
	struct unik_network **networks;
	size_t nnetworks;
	int64_t max_seq;
};
void unik_store_contents_free(struct unik_store_contents *c);

/* Opens (creating) the database at path and upgrades it to UNIK_STORE_SCHEMA_VERSION in one
 * transaction; *from_version (may be NULL) gets the version it had, so the caller can say that
 * it upgraded.  A database newer than this code is refused (UNIK_E_STATE) and left alone. */
int unik_store_open(const char *path, struct unik_store **out, int *from_version,
                    struct unik_error *err);
void unik_store_close(struct unik_store *s);

/* Everything the store holds. */
int unik_store_load(struct unik_store *s, struct unik_store_contents *out, struct unik_error *err);

/* Writes group in a transaction: begin, puts and deletes, then commit (or rollback). */
int unik_store_begin(struct unik_store *s, struct unik_error *err);
int unik_store_commit(struct unik_store *s, struct unik_error *err);
void unik_store_rollback(struct unik_store *s);

/* Insert or replace a record with its lists; delete one by id (its lists go with it). */
int unik_store_put_image(struct unik_store *s, const struct unik_image *im, struct unik_error *err);
int unik_store_del_image(struct unik_store *s, const char *id, struct unik_error *err);
int unik_store_put_build(struct unik_store *s, const struct unik_build *b, struct unik_error *err);
int unik_store_put_instance(struct unik_store *s, const struct unik_instance *in,
                            struct unik_error *err);
int unik_store_del_instance(struct unik_store *s, const char *id, struct unik_error *err);
int unik_store_put_volume(struct unik_store *s, const struct unik_volume *v,
                          struct unik_error *err);
int unik_store_del_volume(struct unik_store *s, const char *id, struct unik_error *err);
int unik_store_put_network(struct unik_store *s, const struct unik_network *n,
                           struct unik_error *err);
int unik_store_del_network(struct unik_store *s, const char *id, struct unik_error *err);

#endif
