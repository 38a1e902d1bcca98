/* The aws provider (aws.c): images become AMIs through S3 and ImportSnapshot, instances are EC2
 * instances.  Exposed pieces are for the registry and unit tests. */
#ifndef UNIK_PROVIDER_AWSPROV_H
#define UNIK_PROVIDER_AWSPROV_H

#include <stdbool.h>
#include <stddef.h>

#include "providers/provider.h"
#include "lib/util.h"

extern const struct unik_provider unik_provider_aws;

/* Files in an image directory and an instance directory (docs/providers/aws.md). */
#define AWS_IMAGE_STATE_FILE  "aws.state"
#define AWS_UPLOAD_STATE_FILE "aws-upload.state" /* a variant's: aws-upload-<key>.state */
#define AWS_LOCK_FILE         "aws.lock"         /* flock'd while aws.state is staged */
#define AWS_STATE_FILE        "provider.state"
#define AWS_CONSOLE_FILE      "console.log"
#define AWS_CONSOLE_SNAP_FILE "console.snap" /* the last console snapshot EC2 gave */
#define AWS_STOPPED_FILE      "stopped"      /* stop() was asked for */
#define AWS_FINAL_FILE        "aws.final"    /* the settled end: no more AWS calls */
#define AWS_ENDED_FILE        "aws.ended"    /* when EC2 first said the instance ended */
#define AWS_AUTOSTOP_FILE     "aws.autostop" /* status() stopped an instance that had exited */

/* An instance's volumes become EBS volumes attached as /dev/sdf, /dev/sdg, ... in device order:
 * this many at most. */
#define AWS_MAX_VOLUMES 11

/* The security group ingress rules for the published ports of devs, pushed onto rules as
 * "PROTO:PORT:CIDR" (from anywhere, 0.0.0.0/0, or from the port's host_ip/32 when it has one),
 * after checking what EC2 can do: one net device at most (the instance's primary network
 * interface), on no host network or tap, each port published on its own number (EC2 maps no
 * ports), and a security group to open them in; blk devices on raw disks, AWS_MAX_VOLUMES at
 * most; no fs devices (host shares), which are refused with UNIK_E_UNSUPPORTED.  -1 with err
 * naming the device or port otherwise. */
int aws_ingress_rules(const struct unik_device *devs, size_t n, const char *security_group,
                      struct strv *rules, struct unik_error *err);

/* cmdline without the device words that the core put in front of it for devs
 * (unik_devices_cmdline): the command line the guest boots with on EC2, where the NIC's MAC
 * and address are EC2's.  A copy of cmdline when it does not begin with them.  Caller frees. */
char *aws_cmdline_without_devices(const char *cmdline, const struct unik_device *devs, size_t n);

/* The command line the guest boots with on EC2: aws_cmdline_without_devices's, with the
 * manifest words of the blk devices of devs (in their order) put back in front, since the guest
 * mounts its volumes by them; when the run gives no command line of its own, they go in front
 * of baked (the line the image's AMI boots, may be NULL).  Caller frees. */
char *aws_guest_cmdline(const char *cmdline, const struct unik_device *devs, size_t n,
                        const char *baked);

/* EC2's console output is a snapshot of the last 64 KiB.  Given the previous snapshot old and
 * a new one, returns how many leading bytes of snap were already seen (the rest is new):
 * old being a prefix of snap, or the longest suffix of old that begins snap (the window
 * slid).  0 when they do not overlap. */
size_t aws_console_seen(const char *old, size_t olen, const char *snap, size_t slen);

/* The default bucket for staged disks: "unik-<region>-<10 hex digits of the access key's
 * SHA-256>", deterministic per credentials and region and unlikely to be taken.  Caller
 * frees. */
char *aws_default_bucket(const char *region, const char *access_key_id);

/* An AMI name EC2 accepts (3-128 of [A-Za-z0-9()[]./'@_-]) made of the image's name and id and
 * a time stamp, so that a re-stage never collides with a name still being released.  Caller
 * frees. */
char *aws_ami_name(const char *image_name, const char *image_id, long long stamp);

/* A run whose command line differs from the one baked into the image's disk gets a variant: a
 * disk packed with that command line, staged as its own AMI once and recorded in aws.state
 * under "<region>.variant.<key>." with key the first 16 hex digits of the command line's
 * SHA-256 (written into key, NUL-ended). */
void aws_variant_key(const char *cmdline, char key[17]);

/* The AMI name of a variant: aws_ami_name's with the key's first 8 digits before the stamp.
 * Caller frees. */
char *aws_variant_ami_name(const char *image_name, const char *image_id, const char *vkey,
                           long long stamp);

/* The variant keys recorded for region in the text of an aws.state, pushed onto keys each
 * once; returns keys->n. */
size_t aws_state_variants(const char *state_text, const char *region, struct strv *keys);

/* From the text of an aws.state: the finished AMI that boots cmdline in region (the image's
 * own for "" or the baked command line, else its variant's), or NULL when it still has to be
 * staged; *variant says whether cmdline needs a variant.  Caller frees. */
char *aws_state_ami_for(const char *state_text, const char *region, const char *cmdline,
                        bool *variant);

#endif
