/* The core's model: images, builds, instances and volumes as typed records, as the store keeps
 * them and the doors read them.  No JSON here: the REST door encodes these (daemon/json.c).
 * Strings are owned by the record (malloc'd, freed by its _free); a NULL string is "none". */
#ifndef UNIK_CORE_MODEL_H
#define UNIK_CORE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/util.h"
#include "providers/provider.h"

#define UNIK_ID_LEN 12

/* Environment: a strv of "NAME=VALUE" words, each NAME once, in the order first set. */
/* Sets NAME to VALUE, in place when NAME is there already (its position stays). */
void unik_env_set(struct strv *env, const char *name, const char *value);
/* Sets each "NAME=VALUE" word of words (words without '=' are skipped). */
void unik_env_update(struct strv *env, const struct strv *words);
/* NAME's value in env, or NULL. */
const char *unik_env_get(const struct strv *env, const char *name);

/* The formats an image has a file in, with the file's size, in the image format table's order
 * (images/format.h) then any others in the order recorded. */
struct unik_format_file {
	char *name;
	uint64_t size;
};
struct unik_formats {
	struct unik_format_file *v;
	size_t n;
};
/* Records (or updates) format name with size, keeping the order above. */
void unik_formats_set(struct unik_formats *f, const char *name, uint64_t size);
/* The entry for name, or NULL. */
const struct unik_format_file *unik_formats_get(const struct unik_formats *f, const char *name);
void unik_formats_free(struct unik_formats *f);

struct unik_image {
	char id[UNIK_ID_LEN + 1];
	char *name, *base, *language, *compiler, *provider, *args, *created, *build_id;
	/* The backend's target ("virtio", "unix"), or NULL for a backend with one; not in the
	 * database: read from the kernel when the store is loaded (image_target()). */
	char *target;
	struct strv env; /* NAME=VALUE */
	int64_t memory_mb;
	uint64_t elf_size, rootfs_size;
	struct unik_formats formats;
	int64_t seq; /* creation order across images, builds and instances */
};

enum unik_build_state { UNIK_BUILD_RUNNING, UNIK_BUILD_SUCCEEDED, UNIK_BUILD_FAILED };
const char *unik_build_state_name(enum unik_build_state s);
/* "running", "succeeded"; anything else (an interrupted write, a future state) is failed. */
enum unik_build_state unik_build_state_from_name(const char *s);

/* What a build was asked for (the REST door fills it from the request). */
struct unik_build_opts {
	char *name, *base, *language, *provider, *args, *git;
	char *target;              /* the backend's target (mirage: "virtio", "unix"), or NULL */
	char *default_name;        /* the name when neither name nor the Unikfile gives one */
	struct strv env;           /* NAME=VALUE */
	struct strv formats;       /* formats to pack besides elf (known names, no repeats) */
	struct strv provider_opts; /* key=value (--provider-opt) */
	int64_t memory_mb;
	bool force;
};
void unik_build_opts_free(struct unik_build_opts *bo);

struct unik_manifest;
struct unik_compiler;
struct unik_core;

struct unik_build {
	char id[UNIK_ID_LEN + 1];
	char *image, *error, *created, *finished, *image_id;
	enum unik_build_state state;
	int64_t seq;
	/* only while it runs in this daemon: */
	struct unik_build_opts opts;
	struct unik_manifest *manifest;
	const struct unik_compiler *compiler;
	struct unik_core *core; /* the core whose queue runs it */
};

/* A NIC of an instance: device net<index> of its run (lib/devices.h). */
struct unik_nic {
	char *network;  /* the network's name (struct unik_network); NULL: user-mode networking */
	char *ip;       /* "10.88.0.2/24" the guest is given; NULL: it asks DHCP */
	char mac[18];   /* empty until the first run derives it */
	char lease[32]; /* with ip NULL: "IP/PREFIX" the network's dnsmasq leased to mac, as the
	                   watcher last read it; empty until then (not stored) */
};

/* A volume or a host share an instance mounts: device vol<index> or share<index> of its run. */
struct unik_mount {
	char *volume; /* the volume's name; NULL for a host share */
	char
	    *host_path; /* a share's directory on the daemon's host (absolute); NULL for a volume */
	char *at;       /* where the guest mounts it, "/data" */
	bool readonly;
};

struct unik_instance {
	char id[UNIK_ID_LEN + 1];
	char *name, *image, *image_id, *provider, *args, *cmdline, *created, *started, *finished;
	struct strv env; /* NAME=VALUE */
	enum unik_instance_state state;
	int exit_code; /* -1: none */
	int pid;
	char ip[64];
	char detail[256];
	char handle[128];          /* the provider's own name for it (domain, EC2 id) */
	char handle_id[64];        /* and its UUID, if any */
	struct strv provider_opts; /* key=value: the request's provider options */
	int64_t memory_mb;
	int64_t seq;
	struct unik_nic *nics; /* net0, net1, ... in order */
	size_t nnics;
	struct unik_port *ports; /* published, all on nics[0] */
	size_t nports;
	struct unik_mount *mounts; /* volumes and host shares, in order */
	size_t nmounts;
	bool busy; /* a stop/start/delete/run is under way (not stored) */
};
/* "running" ... as unik_instance_state_name; an unknown name reads as crashed. */
enum unik_instance_state unik_instance_state_from_name(const char *s);
bool unik_instance_state_final(enum unik_instance_state s);

/* A volume: an ext2 disk image, $UNIK_HOME/volumes/<id>/disk.raw, that outlives instances. */
struct unik_volume {
	char id[UNIK_ID_LEN + 1];
	char *name, *created;
	char *format; /* "raw" */
	uint64_t size_mb;
	char *instance_id; /* the instance it was last attached to read-write, or NULL */
	char *mount;       /* where that instance mounts it, or NULL */
	int64_t seq;
};

/* A network: a Linux bridge on the host with an IPv4 subnet; the bridge holds the gateway
 * address, and unik hands out the others to instances' NICs (`unik network create`). */
struct unik_network {
	char id[UNIK_ID_LEN + 1];
	char *name, *created;
	char *subnet;  /* "10.88.0.0/24" */
	char *gateway; /* "10.88.0.1" */
	char *bridge;  /* "ukbr-0123456789" (lib/hostnet.h) */
	bool dhcp;     /* dnsmasq hands out the upper half of the subnet (lib/dnsmasq.h) */
	int64_t seq;
};

void unik_image_free(struct unik_image *im);
void unik_build_free(struct unik_build *b);
void unik_instance_free(struct unik_instance *in);
void unik_volume_free(struct unik_volume *v);
void unik_network_free(struct unik_network *n);
struct unik_network *unik_network_dup(const struct unik_network *n);
struct unik_volume *unik_volume_dup(const struct unik_volume *v);

/* Copies for the doors (a build's copy leaves out what only its run needs: opts, manifest). */
struct unik_image *unik_image_dup(const struct unik_image *im);
struct unik_build *unik_build_dup(const struct unik_build *b);
struct unik_instance *unik_instance_dup(const struct unik_instance *in);

/* Whether key is one of the NULL-ended keys; if not, err names it and lists the known ones
 * ("unknown build option \"x\" (known: name, base, ...)"). */
bool unik_key_known(const char *key, const char *const *keys, const char *what,
                    struct unik_error *err);

/* A fresh random id of UNIK_ID_LEN hex digits. */
void unik_new_id(char out[UNIK_ID_LEN + 1]);

#endif
