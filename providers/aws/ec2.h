/* Typed EC2 calls over aws_ec2_call (ec2.c) and the parsers of their XML answers, split out so
 * unit tests can feed them canned responses.  Strings in the structs are copied into fixed
 * buffers or owned by the caller as stated. */
#ifndef UNIK_PROVIDER_AWS_EC2_H
#define UNIK_PROVIDER_AWS_EC2_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"
#include "lib/util.h"
#include "providers/aws/aws.h"

#define EC2_API_VERSION "2016-11-15"

/* The form body "Action=A&Version=2016-11-15&k=v&..." with keys and values percent-encoded
 * (aws_uri_encode).  params: "Name=value" words, NULL-ended (may be NULL).  Caller frees. */
char *aws_ec2_form(const char *action, const char *const *params);

/* The text of the first element named name (local name, any namespace) below the document's
 * root, in document order; NULL when absent or the XML does not parse.  Caller frees. */
char *aws_ec2_xml_text(const char *xml, size_t len, const char *name);

/* True when err carries an AWS error code ending in suffix (".NotFound",
 * "InvalidAMIID.Unavailable"). */
bool aws_ec2_error_is(const struct unik_error *err, const char *suffix);

/* ---- import ---- */

struct ec2_import_task {
	char status[32];   /* "active", "completed", "deleting", "deleted" */
	char progress[16]; /* "42" or "" */
	char message[256]; /* statusMessage, e.g. "converting", or the failure's reason */
	char snapshot[64]; /* once completed */
};

/* role: the IAM role EC2 reads the bucket as, NULL for the default (vmimport). */
int aws_ec2_import_snapshot(const struct aws_config *c, const char *bucket, const char *key,
                            const char *description, const char *role, char **task_id,
                            struct unik_error *err);
int aws_ec2_parse_import_task(const char *xml, size_t len, struct ec2_import_task *t,
                              struct unik_error *err);
int aws_ec2_describe_import_task(const struct aws_config *c, const char *task_id,
                                 struct ec2_import_task *t, struct unik_error *err);

/* ---- images and snapshots ---- */

int aws_ec2_register_image(const struct aws_config *c, const char *name, const char *description,
                           const char *snapshot_id, char **ami, struct unik_error *err);
/* state: "pending", "available", "failed", ... */
int aws_ec2_describe_image(const struct aws_config *c, const char *ami, char *state,
                           size_t state_len, struct unik_error *err);
int aws_ec2_deregister_image(const struct aws_config *c, const char *ami, struct unik_error *err);
int aws_ec2_delete_snapshot(const struct aws_config *c, const char *snapshot,
                            struct unik_error *err);

/* ---- security groups ---- */

/* Adds (authorize) or takes away the ingress rule "PROTO:PORT:CIDR" (tcp or udp, one port, an
 * IPv4 CIDR) of security group group (an id, sg-...).  description (authorize only, may be
 * NULL) says whose rule it is.  EC2 answers InvalidPermission.Duplicate for a rule the group
 * has, and InvalidPermission.NotFound for one to revoke that it has not. */
int aws_ec2_ingress(const struct aws_config *c, bool authorize, const char *group, const char *rule,
                    const char *description, struct unik_error *err);

/* ---- instances ---- */

struct ec2_run_params {
	const char *image_id;
	const char *instance_type;
	const char *subnet;         /* or NULL */
	const char *security_group; /* or NULL */
	const char *key_name;       /* or NULL */
	const char *user_data;      /* raw bytes as text, base64-encoded here; or NULL */
	const char *unik_id;        /* tag unik:instance */
	const char *unik_name;      /* tags unik:name and Name */
};

int aws_ec2_run_instance(const struct aws_config *c, const struct ec2_run_params *p,
                         char **instance_id, struct unik_error *err);

struct ec2_instance {
	char state[32]; /* pending, running, shutting-down, terminated, stopping, stopped */
	char public_ip[64];
	char private_ip[64];
	char reason[256]; /* stateReason message, may be empty */
	char zone[32];    /* placement/availabilityZone, "us-east-1a" */
};

int aws_ec2_parse_instance(const char *xml, size_t len, struct ec2_instance *out,
                           struct unik_error *err);
int aws_ec2_describe_instance(const struct aws_config *c, const char *instance_id,
                              struct ec2_instance *out, struct unik_error *err);

/* The console snapshot, base64-decoded into *out (caller frees; NUL-terminated, *len without
 * it); empty when EC2 has none yet.  latest asks for the newest output (Nitro only). */
int aws_ec2_console_output(const struct aws_config *c, const char *instance_id, bool latest,
                           char **out, size_t *len, struct unik_error *err);
/* Base64 (RFC 4648) both ways; decode skips whitespace and fails (-1) on other junk. */
char *aws_base64_encode(const void *data, size_t len);
int aws_base64_decode(const char *text, char **out, size_t *len);

int aws_ec2_stop_instance(const struct aws_config *c, const char *instance_id, bool force,
                          struct unik_error *err);
int aws_ec2_start_instance(const struct aws_config *c, const char *instance_id,
                           struct unik_error *err);
int aws_ec2_terminate_instance(const struct aws_config *c, const char *instance_id,
                               struct unik_error *err);

/* ---- EBS volumes ---- */

struct ec2_volume {
	char state[32];        /* creating, available, in-use, deleting, deleted, error */
	char zone[32];         /* its availability zone */
	char snapshot[64];     /* the snapshot it was made from, or "" */
	char attach_state[32]; /* the attachment's: attaching, attached, detaching, detached; or
	                          "" when it has none */
	char instance[64];     /* the attachment's instance, or "" */
	char device[32];       /* the attachment's device name ("/dev/sdf"), or "" */
};

/* CreateVolume from snapshot in zone (gp3, the snapshot's size), tagged unik:instance=unik_id
 * and unik:device=device_name (either may be NULL).  The new volume's id in *volume_id (caller
 * frees). */
int aws_ec2_create_volume(const struct aws_config *c, const char *snapshot, const char *zone,
                          const char *unik_id, const char *device_name, char **volume_id,
                          struct unik_error *err);
/* The first volume of a DescribeVolumes answer; UNIK_E_NOTFOUND when it lists none. */
int aws_ec2_parse_volume(const char *xml, size_t len, struct ec2_volume *out,
                         struct unik_error *err);
int aws_ec2_describe_volume(const struct aws_config *c, const char *volume_id,
                            struct ec2_volume *out, struct unik_error *err);
/* AttachVolume as device ("/dev/sdf"); the attachment then goes attaching -> attached. */
int aws_ec2_attach_volume(const struct aws_config *c, const char *volume_id,
                          const char *instance_id, const char *device, struct unik_error *err);
/* DetachVolume (Force=true with force); EC2 answers IncorrectState for a volume that is not
 * attached. */
int aws_ec2_detach_volume(const struct aws_config *c, const char *volume_id, bool force,
                          struct unik_error *err);
/* DeleteVolume; EC2 answers VolumeInUse for an attached volume. */
int aws_ec2_delete_volume(const struct aws_config *c, const char *volume_id,
                          struct unik_error *err);

/* The instance type for a memory size (MiB), from the table in docs/providers/aws.md. */
const char *aws_instance_type_for(unsigned long long memory_mb);

#endif
