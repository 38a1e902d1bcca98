/* The core's insides, shared by its files.  Layers, lowest first (each file uses only those
 * above it in this list): model.c, store.c, meta.c, jobs.c and vm.c (no core context);
 * state.c (the in-memory model, the lock and write-through to the store); providers.c (the
 * core's provider table and options, the registries for the doors); cmdline.c; formats.c (an
 * image's files per format); images.c (staging); networks.c (networks, and instances' NICs);
 * builds.c; instances.c (runs and the watcher); core.c (open/close, the read path, image deletion,
 * which deletes instances). */
#ifndef UNIK_CORE_INTERNAL_H
#define UNIK_CORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "core/jobs.h"
#include "core/meta.h"
#include "core/model.h"
#include "core/store.h"
#include "lib/error.h"
#include "lib/util.h"

struct unik_core {
	struct unik_core_config cfg; /* a copy: strings and lists owned */
	char *home, *images_dir, *instances_dir, *builds_dir, *tmp_dir;
	struct unik_store *store;
	pthread_mutex_t lock;   /* everything below, and the store */
	pthread_cond_t changed; /* any state change: builds, instances */
	struct unik_image **images;
	size_t nimages;
	struct unik_build **builds;
	size_t nbuilds;
	struct unik_instance **insts;
	size_t ninsts;
	struct unik_network **networks;
	size_t nnetworks;
	struct unik_volume **volumes;
	size_t nvolumes;
	char *volumes_dir;
	int64_t seq;
	struct strv building; /* image names with a build queued or running */
	uint64_t inst_gen;    /* bumped on every change to an instance (caches key on it) */
	atomic_bool stopping;
	/* jobs.c: queued builds on max_parallel workers; runs, stops, stages and packs inline */
	struct unik_jobs *jobs;
	/* formats.c: packs and removals of image files, taken before lock, never inside it */
	pthread_mutex_t pack_lock;
	/* instances.c: the watcher */
	pthread_t monitor_thread;
	bool monitor_running;
	int kick_fd; /* an eventfd that wakes the watcher */
};

/* ---- state.c: the in-memory model and its write-through (callers hold the lock) ---- */
void core_lock(struct unik_core *c);
void core_unlock(struct unik_core *c);
int state_open(struct unik_core *c, struct unik_error *err);
void state_close(struct unik_core *c);
int db_begin(struct unik_core *c);
int db_commit(struct unik_core *c, struct unik_error *err);
void db_rollback(struct unik_core *c);
int db_put_image(struct unik_core *c, const struct unik_image *im, struct unik_error *err);
int db_del_image(struct unik_core *c, const char *id, struct unik_error *err);
int db_put_build(struct unik_core *c, const struct unik_build *b, struct unik_error *err);
int db_put_instance(struct unik_core *c, const struct unik_instance *in, struct unik_error *err);
int db_del_instance(struct unik_core *c, const char *id, struct unik_error *err);
/* one record in its own transaction */
int save_build(struct unik_core *c, const struct unik_build *b, struct unik_error *err);
int save_instance(struct unik_core *c, const struct unik_instance *in, struct unik_error *err);

void add_image(struct unik_core *c, struct unik_image *im);
void remove_image(struct unik_core *c, struct unik_image *im); /* unlinks, does not free */
void add_build(struct unik_core *c, struct unik_build *b);
void add_instance(struct unik_core *c, struct unik_instance *in);
void remove_instance(struct unik_core *c, struct unik_instance *in);

struct unik_build *find_build(struct unik_core *c, const char *id);
struct unik_image *find_image_id(struct unik_core *c, const char *id);
struct unik_image *resolve_image(struct unik_core *c, const char *ref, struct unik_error *err);
struct unik_instance *resolve_instance(struct unik_core *c, const char *ref,
                                       struct unik_error *err);
struct unik_network *resolve_network(struct unik_core *c, const char *ref, struct unik_error *err);
struct unik_image *find_image_name(struct unik_core *c, const char *name);
struct unik_instance *find_instance_name(struct unik_core *c, const char *name);

/* ---- formats.c ---- */
/* Records that im has a file in format name of size bytes (lock held). */
void image_set_format(struct unik_image *im, const char *name, uint64_t size);
/* Writes im's image.json (lock held). */
int image_write_meta(struct unik_core *c, const struct unik_image *im, struct unik_error *err);
/* Removes an image's directory, waiting for a pack under way in it (lock not held). */
int image_files_remove(struct unik_core *c, const char *id, struct unik_error *err);

/* ---- images.c ---- */
/* The image's default guest command line, its args and env composed; *out is NULL when that is
 * empty (the kernel's baked defaults).  Lock held. */
int image_cmdline(const struct unik_image *im, char **out, struct unik_error *err);
/* The same with a run request's args and env over the image's. */
int compose_cmdline(const struct unik_image *im, const struct unik_run_request *rr, char **out,
                    struct unik_error *err);
/* Stages image id for p when p has stage(): makes p's format, then p->stage() with progress
 * lines through log(ctx, line).  0 at once for providers without stage. */
int image_stage(struct unik_core *c, const char *image_id, const struct unik_provider *p,
                const struct strv *req_opts, void (*log)(void *ctx, const char *line), void *ctx,
                struct unik_error *err);

/* ---- networks.c ---- */
/* Brings every network's bridge back (after a reboot, or a bridge removed by hand); a failure is
 * reported on stderr and leaves the network to fail its runs with the reason. */
void networks_start(struct unik_core *c);
/* Gives in its NICs and published ports from a run request (lock held): networks resolved,
 * addresses handed out, ports parsed.  image_devices is the image's UNIK_NOTE_DEVICES mask. */
int nics_assign(struct unik_core *c, struct unik_instance *in, const struct unik_run_request *rr,
                unsigned image_devices, struct unik_error *err);
/* in's NICs as devices for a run (lock held): devs[] gets in->nnics entries whose strings point
 * into in and c's networks (valid while both are). */
/* Reads the leases of in's NICs on DHCP from their networks' dnsmasq into nic->lease (and the
 * first NIC's into in->ip); whether anything changed.  Lock held. */
bool nics_leases_refresh(struct unik_core *c, struct unik_instance *in);
size_t nics_devices(struct unik_core *c, const struct unik_instance *in, struct unik_device *devs,
                    size_t max);

/* ---- binds.c ---- */
/* Where a mirage application's block device is "mounted" in its instance's record: the volume is
 * attached whole, as raw sectors, so volumes.c neither checks it with e2fsck nor mounts it. */
#define BINDS_RAW_AT "/.unik-dev/"
/* A mirage application's bindings (rr->binds) checked against the devices its kernel declares:
 * each declared one bound once, nothing else bound; networks gets the NICs' networks in
 * declaration order, volumes the block devices' (whole disks, at BINDS_RAW_AT).  For an image that
 * declares none, binds are refused and nothing is added.  Lock held. */
int binds_apply(struct unik_core *c, const struct unik_image *im, const struct unik_run_request *rr,
                struct strv *networks, struct strv *volumes, struct unik_error *err);
/* Whether image im may run on provider `provider`: a mirage application built for a target that
 * runs on its own monitor (unix: spt, hvt: hvt; unik_target_monitor_provider) runs only on that
 * provider, which runs only those; UNIK_E_INVALID saying which to use otherwise. */
int binds_check_provider(struct unik_core *c, const struct unik_image *im, const char *provider,
                         struct unik_error *err);
/* Gives a mirage application's devices (from nics_devices and mounts_devices) their declared
 * names, kept in strings; nothing for another image.  Lock held. */
void binds_name_devices(struct unik_core *c, const char *image_id, struct unik_device *devs,
                        size_t n, struct strv *strings);

/* ---- volumes.c ---- */
/* Gives in its mounts from a run request (lock held): "NAME:/path[:ro]" a volume, "/dir:/path[:ro]"
 * a host share; refused when a volume is attached read-write elsewhere. */
int mounts_assign(struct unik_core *c, struct unik_instance *in, const struct unik_run_request *rr,
                  struct unik_error *err);
/* Checks that in's volumes may be attached now (lock held): none is in use read-write by another
 * running instance. */
int mounts_check_free(struct unik_core *c, const struct unik_instance *in, struct unik_error *err);
/* Repairs in's writable volumes with `e2fsck -p` before a run (lock not held), each fix noted
 * through note(ctx, line); a volume e2fsck cannot repair fails the run. */
int mounts_fsck(struct unik_core *c, const struct unik_instance *in,
                void (*note)(void *ctx, const char *line), void *ctx, struct unik_error *err);
/* mounts_fsck as the core's attach job (UNIK_JOB_ATTACH, progress for each repair), run inline;
 * 0 at once without mounts. */
int mounts_attach(struct unik_core *c, const struct unik_instance *in,
                  void (*note)(void *ctx, const char *line), void *ctx, struct unik_error *err);
/* in's mounts as devices (lock held), after its NICs: devs[] gets up to max entries whose
 * strings point into in, c and paths (which the caller frees). */
size_t mounts_devices(struct unik_core *c, const struct unik_instance *in, struct unik_device *devs,
                      size_t max, struct strv *paths);
struct unik_volume *resolve_volume(struct unik_core *c, const char *ref, struct unik_error *err);

/* ---- builds.c ---- */
int builds_recover(struct unik_core *c, struct unik_error *err); /* lock held */
int builds_start(struct unik_core *c, struct unik_error *err);
void builds_stop(struct unik_core *c);

/* ---- instances.c ---- */
int instances_start(struct unik_core *c, struct unik_error *err); /* adopt, then watch */
void instances_kick(struct unik_core *c);
void instances_stop(struct unik_core *c);
/* Deletes instance id of an image being deleted (lock not held). */
int instance_delete_for_image(struct unik_core *c, const char *id, struct unik_error *err);

#endif
