/* unik's core as a library: images, builds, instances (and, later, volumes) behind one context.
 * The doors (the REST daemon, unik-oci, unik-pack) open a core on a home directory, call its
 * operations with typed requests and get typed records back; nothing here speaks JSON.
 *
 * Ownership: records returned through an out pointer are copies the caller frees with the
 * model's _free (core/model.h).  Records seen between unik_core_read_begin and _end belong to
 * the core and are valid only until _end. */
#ifndef UNIK_CORE_CORE_H
#define UNIK_CORE_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "compilers/compiler.h"
#include "compilers/sandbox.h"
#include "core/model.h"
#include "lib/error.h"
#include "lib/registry.h"
#include "lib/util.h"
#include "providers/provider.h"

struct unik_core;

/* Options a provider always gets (daemon-config.yaml's "providers:"), as key=value words. */
struct unik_core_provider_opts {
	const char *provider;
	struct strv opts;
};

struct unik_core_config {
	const char *home;      /* $UNIK_HOME: unik.db, images/, instances/, builds/, tmp/ */
	int64_t max_parallel;  /* builds that run at once */
	int64_t max_upload_mb; /* the unpacked size of a build's source */
	int64_t max_files;     /* files in a build's source */
	/* Builds' sandbox (compilers/sandbox.h) */
	bool build_sandbox_none;
	int64_t build_uid, build_gid;
	struct unik_sandbox_limits build_limits;
	bool allow_local_git;
	const char *default_provider; /* NULL: unik_provider_default() */
	const struct unik_core_provider_opts *provider_opts;
	size_t nprovider_opts;
	/* The providers the core may use, NULL-ended; NULL means the registry (unik_providers).
	 * Tests hand it a fake provider here. */
	const struct unik_provider *const *providers;
};

/* Opens the core on cfg->home (the directories must exist): opens and upgrades the store,
 * fails builds a stopped daemon left unfinished, starts the build workers, adopts the
 * instances an earlier daemon left and starts watching them.  cfg is copied. */
int unik_core_open(const struct unik_core_config *cfg, struct unik_core **out,
                   struct unik_error *err);
/* Begins stopping: every waiter wakes, operations answer "stopping", no queued build starts.
 * Returns at once; safe to call twice. */
void unik_core_stop(struct unik_core *c);
/* Stops, lets running builds finish, joins the workers and the instance watcher, closes the
 * store and frees c (NULL is fine).  Instances keep running. */
void unik_core_close(struct unik_core *c);
bool unik_core_stopping(const struct unik_core *c);

/* ---- providers ---- */
/* A provider of the core's table by name, or NULL. */
const struct unik_provider *unik_core_provider(const struct unik_core *c, const char *name);
const struct unik_provider *const *unik_core_providers(const struct unik_core *c);
const char *unik_core_default_provider(const struct unik_core *c);
/* The options p gets: the configuration's for p, then req's key=value words (NULL for none),
 * each key checked against p->opt_keys.  out is NULL-ended (out->v usable as spec.opts). */
int unik_core_provider_opts(const struct unik_core *c, const struct unik_provider *p,
                            const struct strv *req, struct strv *out, struct unik_error *err);

/* ---- what this unik has: the registries, handed to the doors for their listings and checks */
/* A provider of the registry by name (before a core is open: the configuration's checks). */
const struct unik_provider *unik_core_registry_provider(const char *name);
/* The compilers (NULL-ended), and the one for base and language (NULL with err, naming the
 * known ones). */
const struct unik_compiler *const *unik_core_compilers(void);
const struct unik_compiler *unik_core_compiler_find(const char *base, const char *language,
                                                    struct unik_error *err);
/* Whether name is an image format, and the known names ("elf, raw, ..."). */
bool unik_core_format_known(const char *name);
const char *unik_core_format_names(void);
/* An instance state's name in the API ("running", "exited", ...). */
const char *unik_core_state_name(enum unik_instance_state s);

/* ---- reading the model (no copies: the read path of every GET) ---- */
struct unik_core_view {
	struct unik_image *const *images;
	size_t nimages;
	struct unik_build *const *builds;
	size_t nbuilds;
	struct unik_instance *const *instances;
	size_t ninstances;
	struct unik_network *const *networks;
	size_t nnetworks;
	struct unik_volume *const *volumes;
	size_t nvolumes;
	uint64_t instances_gen; /* changes whenever any instance changes (for caches) */
};
/* Takes the core's lock and shows its records in creation order; end with _read_end. */
void unik_core_read_begin(struct unik_core *c, struct unik_core_view *v);
void unik_core_read_end(struct unik_core *c);
/* Between _read_begin and _end: by exact id, exact name, then a unique prefix of either;
 * NULL with UNIK_E_NOTFOUND, or UNIK_E_STATE when the prefix is ambiguous. */
const struct unik_image *unik_core_image(struct unik_core *c, const char *ref,
                                         struct unik_error *err);
const struct unik_instance *unik_core_instance(struct unik_core *c, const char *ref,
                                               struct unik_error *err);
/* The device bindings of an instance of a mirage image, in its declaration order and in the
 * spelling `unik run` and POST /v1/instances take: "net:NAME=NETWORK" ("user" for user-mode
 * networking), "blk:NAME=VOLUME"; pushed onto out.  Nothing for other images, or when the
 * image's kernel cannot be read.  in may be a copy: this reads only the image's kernel file. */
void unik_core_instance_binds(struct unik_core *c, const struct unik_instance *in,
                              struct strv *out);

/* ---- builds ---- */
/* Takes the upload (a gzip tar, removed afterwards) or bo->git, checks and unpacks it, records
 * and queues the build; *out is a copy of the new build.  bo is taken over in both cases. */
int unik_core_build_submit(struct unik_core *c, struct unik_build_opts *bo, const char *upload_path,
                           struct unik_build **out, struct unik_error *err);
/* Blocks until the build has ended (or the core stops); returns its state. */
enum unik_build_state unik_core_build_wait(struct unik_core *c, const char *id);
bool unik_core_build_ended(struct unik_core *c, const char *id);
char *unik_core_build_log_path(const struct unik_core *c, const char *id);

/* ---- images ---- */
/* Makes sure image ref has its file in format (packed now if it has none, or again when
 * force), and with check validates it (a damaged file is UNIK_E_STATE, saying what is wrong and
 * how to fix it).  Out parameters may be NULL: *fd a read-only descriptor of the file, *path its
 * path, *size its size, *out a copy of the image afterwards. */
int unik_core_image_format(struct unik_core *c, const char *ref, const char *format, bool force,
                           bool check, int *fd, char **path, uint64_t *size,
                           struct unik_image **out, struct unik_error *err);
/* Deletes an image (with force, the instances of it first). */
int unik_core_image_delete(struct unik_core *c, const char *ref, bool force,
                           struct unik_error *err);

/* ---- exports of more than one file (core/export.c) ---- */
/* The xl.cfg text of image ref for a directory that holds its kernel as kernel_name and its
 * root fs as rootfs_name (plain file names; the root fs is left out when the image has none).
 * *text is the caller's. */
int unik_core_image_xl_relative(struct unik_core *c, const char *ref, const char *kernel_name,
                                const char *rootfs_name, char **text, struct unik_error *err);
/* Image ref's root fs (newc cpio): *fd read-only, *size its bytes; UNIK_E_NOTFOUND when the
 * image has none. */
int unik_core_image_rootfs(struct unik_core *c, const char *ref, int *fd, uint64_t *size,
                           struct unik_error *err);

/* ---- registries (core/registry.c) ---- */
/* Pushes image ref to the registry reference dest ("127.0.0.1:5000/team/hello:1") as an OCI
 * image manifest over the blobs of its `oci` format, skipping blobs the registry has.  progress
 * (may be NULL) sees each blob's bytes go.  *pushed is the full reference, *digest the
 * manifest's (both may be NULL). */
int unik_core_image_push(struct unik_core *c, const char *ref, const char *dest,
                         const struct unik_registry_opts *opts, unik_registry_progress_fn progress,
                         void *ctx, char **pushed, char **digest, struct unik_error *err);
/* Pulls src into the store as name (NULL: the image's org.unik.name label, else the
 * repository's last part), replacing an image of that name.  Every digest is checked first: a
 * mismatch stores nothing.  *out is a copy of the new image (may be NULL). */
int unik_core_image_pull(struct unik_core *c, const char *src, const char *name,
                         const struct unik_registry_opts *opts, unik_registry_progress_fn progress,
                         void *ctx, struct unik_image **out, struct unik_error *err);

/* ---- instances ---- */
struct unik_run_request {
	const char *name, *image, *args, *provider; /* NULL: the image's (or a fresh name) */
	struct strv env;                            /* NAME=VALUE */
	struct strv provider_opts;                  /* key=value */
	int64_t memory_mb;                          /* 0: the image's */
	/* "NAME", "NAME:IP" or "NAME:dhcp" (a lease from the network's dnsmasq) per NIC, in order
	 * (net0, net1, ...); "none" alone for no NIC.  Empty: one NIC on user-mode networking when
	 * the image uses the network (its UNIK_NOTE_DEVICES note) or ports are published, else
	 * none. */
	struct strv networks;
	struct strv ports; /* "[HOSTIP:]HOSTPORT:GUESTPORT[/udp]", published on the first NIC */
	/* "VOLUME:/path[:ro]" (a volume) or "/host/dir:/path[:ro]" (a host share) */
	struct strv volumes;
	/* A device application's devices bound by name (docs/backends/mirage.md):
	 * "net:NAME=NETWORK" (NETWORK "user": user-mode networking) and "blk:NAME=VOLUME".  Each
	 * device the image declares must be bound, and only those. */
	struct strv binds;
};
void unik_run_request_free(struct unik_run_request *rr);

int unik_core_run(struct unik_core *c, const struct unik_run_request *rr,
                  struct unik_instance **out, struct unik_error *err);
int unik_core_stop_instance(struct unik_core *c, const char *ref, struct unik_instance **out,
                            struct unik_error *err);
int unik_core_start_instance(struct unik_core *c, const char *ref, struct unik_instance **out,
                             struct unik_error *err);
int unik_core_delete_instance(struct unik_core *c, const char *ref, bool force,
                              struct unik_error *err);
/* Blocks until the instance has ended; gone(ctx) (may be NULL) is asked now and then whether
 * the caller still waits. */
int unik_core_wait_instance(struct unik_core *c, const char *ref, bool (*gone)(void *), void *ctx,
                            struct unik_instance **out, struct unik_error *err);
/* The console log's path and the instance's id (for log streaming). */
int unik_core_instance_log(struct unik_core *c, const char *ref, char **path,
                           char id[UNIK_ID_LEN + 1], struct unik_error *err);
/* Writes len bytes to the guest's input (its console's receive side) of running instance ref,
 * through the stdin.fifo unik-shim makes for it; UNIK_E_STATE when it is not running or its
 * provider takes no input, or when the guest has not read what came before (64 KiB). */
int unik_core_instance_input(struct unik_core *c, const char *ref, const char *data, size_t len,
                             struct unik_error *err);
/* Whether instance id has ended (or is gone). */
bool unik_core_instance_ended(struct unik_core *c, const char *id);

/* ---- volumes ---- */
struct unik_volume_request {
	const char *name;
	uint64_t size_mb; /* 0: from the data (its size, half again and 8 MiB), or 64 without */
	const char *type; /* "ext2" (NULL: ext2) */
};
/* Makes volume vr->name: an ext2 disk made by mke2fs, holding what the gzip or plain tar at
 * data_archive (checked like a build's upload; NULL for an empty volume) unpacks to. */
int unik_core_volume_create(struct unik_core *c, const struct unik_volume_request *vr,
                            const char *data_archive, struct unik_volume **out,
                            struct unik_error *err);
/* Removes a volume and its disk.  One an instance mounts is refused (UNIK_E_STATE, naming it);
 * with force it is taken out of ended instances first, but never out of a running one. */
int unik_core_volume_delete(struct unik_core *c, const char *ref, bool force,
                            struct unik_error *err);
/* Between _read_begin and _end, like unik_core_image. */
const struct unik_volume *unik_core_volume(struct unik_core *c, const char *ref,
                                           struct unik_error *err);
/* A read-only descriptor of the volume's disk and its size, for an export: refused while a
 * running instance has it read-write (the copy would not be consistent). */
int unik_core_volume_open(struct unik_core *c, const char *ref, int *fd, uint64_t *size,
                          char **name, struct unik_error *err);
/* UniK's attach-volume and detach-volume: adds the volume to (or takes it out of) an instance
 * that is not running, for its next start. */
int unik_core_volume_attach(struct unik_core *c, const char *vref, const char *iref, const char *at,
                            bool readonly, struct unik_error *err);
int unik_core_volume_detach(struct unik_core *c, const char *vref, struct unik_error *err);

/* ---- networks ---- */
/* Makes network name: a Linux bridge on this host with the gateway (the subnet's first address)
 * and subnet (NULL: the first free 10.88.N.0/24).  A subnet that overlaps another network or an
 * address of the host is refused (UNIK_E_INVALID, naming what it overlaps); nothing is left
 * behind on failure.  dhcp: the daemon also runs dnsmasq on the bridge (lib/dnsmasq.h), leasing
 * the upper half of the subnet, which unik's own allocator then never gives; a dnsmasq that
 * cannot start fails the whole create. */
int unik_core_network_create(struct unik_core *c, const char *name, const char *subnet, bool dhcp,
                             struct unik_network **out, struct unik_error *err);
/* Removes a network and its bridge; refused (UNIK_E_STATE, naming them) while instances use it. */
int unik_core_network_delete(struct unik_core *c, const char *ref, struct unik_error *err);
/* The address of nic ("IP/PREFIX" into buf): the one unik gave it, else the one the network's
 * dnsmasq leased to its MAC as the instance watcher last read it.  false when it has none
 * (yet).  Works on copies too. */
bool unik_core_nic_address(struct unik_core *c, const struct unik_nic *nic, char *buf, size_t len);
/* Between _read_begin and _end, like unik_core_image. */
const struct unik_network *unik_core_network(struct unik_core *c, const char *ref,
                                             struct unik_error *err);

#endif
