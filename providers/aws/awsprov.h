/* The aws provider (aws.c): images become AMIs through S3 and ImportSnapshot, instances are EC2
 * instances.  Exposed pieces are for the registry and unit tests. */
#ifndef UNIK_PROVIDER_AWSPROV_H
#define UNIK_PROVIDER_AWSPROV_H

#include <stddef.h>

#include "providers/provider.h"

extern const struct unik_provider unik_provider_aws;

/* Files in an image directory and an instance directory (docs/providers/aws.md). */
#define AWS_IMAGE_STATE_FILE  "aws.state"
#define AWS_UPLOAD_STATE_FILE "aws-upload.state"
#define AWS_STATE_FILE        "provider.state"
#define AWS_CONSOLE_FILE      "console.log"
#define AWS_CONSOLE_SNAP_FILE "console.snap" /* the last console snapshot EC2 gave */
#define AWS_STOPPED_FILE      "stopped"      /* stop() was asked for */
#define AWS_FINAL_FILE        "aws.final"    /* the settled end: no more AWS calls */
#define AWS_ENDED_FILE        "aws.ended"    /* when EC2 first said the instance ended */
#define AWS_AUTOSTOP_FILE     "aws.autostop" /* status() stopped an instance that had exited */

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

#endif
