/* unik-oci's record of one container (<root>/<id>/unik.json) and the state document of the OCI
 * runtime command line (`state ID`, `list --format json`), as runc prints it. */
#ifndef UNIK_OCI_STATE_H
#define UNIK_OCI_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

#define OCI_STATE_FILE "unik.json"
#define OCI_FIFO_FILE  "exec.fifo"

/* Everything unik-oci keeps about a unikernel container.  Strings are owned; release with
 * oci_state_free. */
struct oci_state {
	char *id;
	char *oci_version;
	char *bundle;
	char *rootfs;
	char *created;                /* RFC 3339 with nanoseconds, UTC */
	char *owner;                  /* "" as runc writes it for root */
	pid_t pid;                    /* the container's init process; 0 while creating */
	unsigned long long pid_start; /* its start time (lib/proc.h), against PID reuse */
	char *kernel;
	char *cmdline;
	char *accel;
	uint64_t memory_mb;
	bool terminal;
	json_t *annotations; /* object; never NULL after a load */
};

void oci_state_free(struct oci_state *s);

/* The record as JSON text (caller frees), and back.  oci_state_parse zeroes *out first and
 * fails with UNIK_E_INVALID naming the field that is wrong. */
char *oci_state_dump(const struct oci_state *s);
int oci_state_parse(const char *text, size_t len, struct oci_state *out, struct unik_error *err);

/* The runtime-spec state document for status ("creating", "created", "running", "stopped"):
 * {ociVersion, id, pid, status, bundle, rootfs, created, owner, annotations}.  A new reference. */
json_t *oci_state_public(const struct oci_state *s, const char *status);

#endif
