/* The aws provider: stage() turns an image's raw disk into an AMI (S3 upload, ImportSnapshot,
 * RegisterImage), run() starts an EC2 instance from it, and status() follows the instance and
 * copies its serial console into console.log.  Everything needed to find the instance again is
 * in the instance directory, so a restarted daemon adopts it; calls to AWS are rate-limited
 * because the daemon asks for the status every 100 ms. */
#include "providers/aws/awsprov.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "providers/aws/aws.h"
#include "providers/aws/ec2.h"
#include "lib/guest_console.h"
#include "lib/kv.h"
#include "images/format.h"

/* At most one DescribeInstances (and one GetConsoleOutput) per instance in this period. */
#define STATUS_PERIOD_MS 2000
/* How long an instance EC2 reports as ended may go without an exit line before it counts as
 * crashed: EC2's console snapshot lags behind the guest. */
#define CONSOLE_GRACE_S 30
/* Limits on waiting for AWS's long operations. */
#define IMPORT_LIMIT_S   (4 * 3600)
#define IMAGE_LIMIT_S    1800
#define STOPPED_LIMIT_MS (10 * 60 * 1000)

static void sleep_ms(long long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- key=value records (lib/kv.h) --------------------------------------------------------- */

/* "<region>.<key>": the image records are per region. */
static const char *rget(const struct unik_kv *kv, const char *region, const char *key)
{
	_cleanup_free_ char *k = xasprintf("%s.%s", region, key);
	const char *v = unik_kv_find(kv, k);

	return v && *v ? v : NULL;
}

static void rset(struct unik_kv *kv, const char *region, const char *key, const char *value)
{
	_cleanup_free_ char *k = xasprintf("%s.%s", region, key);

	if (value)
		unik_kv_set(kv, k, value);
	else
		unik_kv_del(kv, k);
}

/* ---- small files --------------------------------------------------------------------------- */

static int dir_write(const char *dir, const char *name, const char *text, struct unik_error *err)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);

	return unik_write_file_atomic(p, text, strlen(text), 0644, err);
}

static int dir_unlink(const char *dir, const char *name, struct unik_error *err)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);

	if (unlink(p) < 0 && errno != ENOENT) {
		unik_error_sys(err, errno, "aws: remove `%s`", p);
		return -1;
	}
	return 0;
}

static int append_file(const char *path, const char *data, size_t len, struct unik_error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0 || unik_write_all(fd, data, len) < 0) {
		unik_error_sys(err, errno, "aws: write `%s`", path);
		return -1;
	}
	return 0;
}

/* ---- command-line variants ------------------------------------------------------------------ */

/* The variant keys recorded for region (lines "<region>.variant.<key>.<field>=..."), each once,
 * in the order they first appear. */
static void kv_variants(const struct unik_kv *kv, const char *region, struct strv *out)
{
	_cleanup_free_ char *prefix = xasprintf("%s.variant.", region);
	size_t pl = strlen(prefix);

	for (size_t i = 0; i < kv->lines.n; i++) {
		const char *k = kv->lines.v[i], *dot, *eq;
		bool seen = false;
		size_t n;

		if (strncmp(k, prefix, pl))
			continue;
		k += pl;
		dot = strchr(k, '.');
		eq = strchr(k, '=');
		if (!dot || dot == k || (eq && eq < dot))
			continue;
		n = (size_t)(dot - k);
		for (size_t j = 0; j < out->n && !seen; j++)
			seen = strlen(out->v[j]) == n && !strncmp(out->v[j], k, n);
		if (!seen)
			strv_push_take(out, xstrndup(k, n));
	}
}

/* Whether cmdline needs a disk of its own: the image's AMI boots the command line baked into
 * it (recorded as "cmdline" by the stage), and an empty one means that too. */
static bool wants_variant(const struct unik_kv *kv, const char *cmdline)
{
	const char *baked = unik_kv_find(kv, "cmdline");

	return cmdline && *cmdline && (!baked || strcmp(baked, cmdline));
}

void aws_variant_key(const char *cmdline, char key[17])
{
	char hex[65];

	aws_sha256_hex(cmdline, strlen(cmdline), hex);
	memcpy(key, hex, 16);
	key[16] = '\0';
}

size_t aws_state_variants(const char *state_text, const char *region, struct strv *keys)
{
	_cleanup_kv_ struct unik_kv kv = {0};

	unik_kv_parse(&kv, state_text);
	kv_variants(&kv, region, keys);
	return keys->n;
}

static const char *kv_ami_for(const struct unik_kv *kv, const char *region, const char *cmdline,
                              bool *variant)
{
	char vkey[17];
	_cleanup_free_ char *k = NULL;

	*variant = wants_variant(kv, cmdline);
	if (!*variant)
		return rget(kv, region, "done") ? rget(kv, region, "ami") : NULL;
	aws_variant_key(cmdline, vkey);
	k = xasprintf("variant.%s.done", vkey);
	if (!rget(kv, region, k))
		return NULL;
	free(k);
	k = xasprintf("variant.%s.ami", vkey);
	return rget(kv, region, k);
}

char *aws_state_ami_for(const char *state_text, const char *region, const char *cmdline,
                        bool *variant)
{
	_cleanup_kv_ struct unik_kv kv = {0};
	const char *ami;

	unik_kv_parse(&kv, state_text);
	ami = kv_ami_for(&kv, region, cmdline, variant);
	return ami ? xstrdup(ami) : NULL;
}

/* ---- pieces exposed for tests -------------------------------------------------------------- */

size_t aws_console_seen(const char *old, size_t olen, const char *snap, size_t slen)
{
	if (olen == 0 || slen == 0)
		return 0;
	if (slen >= olen && !memcmp(old, snap, olen))
		return olen;
	for (size_t k = olen < slen ? olen : slen; k > 0; k--)
		if (old[olen - k] == snap[0] && !memcmp(old + olen - k, snap, k))
			return k;
	return 0;
}

char *aws_default_bucket(const char *region, const char *access_key_id)
{
	char hex[65];

	aws_sha256_hex(access_key_id, strlen(access_key_id), hex);
	hex[10] = '\0';
	return xasprintf("unik-%s-%s", region, hex);
}

/* "unik-<name>-<id>[-<tag>]-<stamp>", with what EC2 refuses in a name made a '-'. */
static char *ami_name(const char *image_name, const char *image_id, const char *tag,
                      long long stamp)
{
	char *name =
	    xasprintf("unik-%.60s-%s%s%.8s-%lld", image_name && *image_name ? image_name : "image",
	              image_id, tag ? "-" : "", tag ? tag : "", stamp);

	for (char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("()[]./'@_-", *p)))
			*p = '-';
	return name;
}

char *aws_ami_name(const char *image_name, const char *image_id, long long stamp)
{
	return ami_name(image_name, image_id, NULL, stamp);
}

char *aws_variant_ami_name(const char *image_name, const char *image_id, const char *vkey,
                           long long stamp)
{
	return ami_name(image_name, image_id, vkey, stamp);
}

/* ---- options and configuration --------------------------------------------------------------- */

static const char *const aws_opt_keys[] = {
    "profile",       "region", "endpoint_url",   "s3_endpoint_url", "ec2_endpoint_url", "bucket",
    "instance_type", "subnet", "security_group", "key_name",        "import_role",      NULL,
};
static const char *const aws_opt_help[] = {
    "the profile in ~/.aws/credentials and ~/.aws/config (default: $AWS_PROFILE or default)",
    "the AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, the profile's, us-east-1)",
    "one endpoint for every service (an emulator, a VPC endpoint)",
    "the S3 endpoint (path-style addressing)",
    "the EC2 endpoint",
    "the S3 bucket disks are uploaded through (default: unik-<region>-<hash of the access key>)",
    "the EC2 instance type (default: from the memory size, see docs/providers/aws.md)",
    "the VPC subnet id to launch into (default: the default VPC's)",
    "a security group id for the instance",
    "an EC2 key pair name (the guest has no SSH server; recorded on the instance only)",
    "the IAM role ImportSnapshot uses to read S3 (default: vmimport)",
    NULL,
};

static bool aws_available(const char *const *opts, char *reason, size_t reason_len)
{
	struct aws_config c = {0};
	struct unik_error err = {0};

	if (aws_config_load(opts, &c, &err) < 0) {
		snprintf(reason, reason_len, "%s", err.msg);
		return false;
	}
	aws_config_free(&c);
	return true;
}

static void progress(const struct unik_stage_spec *spec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const struct unik_stage_spec *spec, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!spec->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	spec->progress(spec->ctx, line);
}

/* aws_s3_upload's progress, handed on with a prefix. */
static void upload_progress(void *ctx, const char *line)
{
	const struct unik_stage_spec *spec = ctx;

	progress(spec, "uploading to S3: %s", line);
}

/* ---- stage --------------------------------------------------------------------------------- */

static int save_image_state(const char *path, const struct unik_kv *kv, struct unik_error *err)
{
	if (unik_kv_save(path, kv, err) < 0) {
		unik_error_prefix(err, "aws: record the stage");
		return -1;
	}
	return 0;
}

/* Waits for the import task to finish; its snapshot id into snap (64 bytes). */
static int wait_import(const struct aws_config *c, const struct unik_stage_spec *spec,
                       const char *task, char *snap, struct unik_error *err)
{
	long long deadline = unik_now_ms() + IMPORT_LIMIT_S * 1000LL, delay = 1000;
	char last[320] = "";

	for (;;) {
		struct ec2_import_task t;
		char line[320];

		if (aws_ec2_describe_import_task(c, task, &t, err) < 0)
			return -1;
		if (!strcmp(t.status, "completed")) {
			if (!t.snapshot[0]) {
				unik_error_set(err, UNIK_E_IO,
				               "aws: import task %s completed without a snapshot",
				               task);
				return -1;
			}
			snprintf(snap, 64, "%s", t.snapshot);
			progress(spec, "importing snapshot: completed: %s", t.snapshot);
			return 0;
		}
		if (!strcmp(t.status, "deleted") || !strcmp(t.status, "deleting")) {
			unik_error_set(err, UNIK_E_IO, "aws: ImportSnapshot %s failed: %s", task,
			               t.message[0] ? t.message : t.status);
			return -1;
		}
		snprintf(line, sizeof(line), "importing snapshot: %s%s%s%s%s", t.status,
		         t.progress[0] ? " " : "", t.progress, t.progress[0] ? "%" : "",
		         t.message[0] ? "" : "");
		if (t.message[0]) {
			size_t n = strlen(line);

			snprintf(line + n, sizeof(line) - n, " (%s)", t.message);
		}
		if (strcmp(line, last)) {
			progress(spec, "%s", line);
			snprintf(last, sizeof(last), "%s", line);
		}
		if (unik_now_ms() > deadline) {
			unik_error_set(
			    err, UNIK_E_IO,
			    "aws: ImportSnapshot %s still %s after %d hours; run the stage "
			    "again to keep waiting",
			    task, t.status, IMPORT_LIMIT_S / 3600);
			return -1;
		}
		sleep_ms(delay);
		delay = delay * 3 / 2 > 15000 ? 15000 : delay * 3 / 2;
	}
}

static int wait_image(const struct aws_config *c, const struct unik_stage_spec *spec,
                      const char *ami, struct unik_error *err)
{
	long long deadline = unik_now_ms() + IMAGE_LIMIT_S * 1000LL, delay = 1000;

	for (;;) {
		char state[32];

		if (aws_ec2_describe_image(c, ami, state, sizeof(state), err) < 0)
			return -1;
		if (!strcmp(state, "available"))
			return 0;
		if (strcmp(state, "pending")) {
			unik_error_set(err, UNIK_E_IO, "aws: the AMI %s is %s", ami, state);
			return -1;
		}
		if (unik_now_ms() > deadline) {
			unik_error_set(err, UNIK_E_IO, "aws: the AMI %s is still pending", ami);
			return -1;
		}
		progress(spec, "registering image: %s is pending", ami);
		sleep_ms(delay);
		delay = delay * 2 > 10000 ? 10000 : delay * 2;
	}
}

/* A disk's record in region: "<region>.<field>" for the image's own disk, and
 * "<region>.variant.<key>.<field>" for the variant that bakes another command line. */
static const char *dget(const struct unik_kv *kv, const char *region, const char *vkey,
                        const char *field)
{
	_cleanup_free_ char *k = vkey ? xasprintf("variant.%s.%s", vkey, field) : xstrdup(field);

	return rget(kv, region, k);
}

static void dset(struct unik_kv *kv, const char *region, const char *vkey, const char *field,
                 const char *value)
{
	_cleanup_free_ char *k = vkey ? xasprintf("variant.%s.%s", vkey, field) : xstrdup(field);

	rset(kv, region, k, value);
}

/* Holds <image_dir>/aws.lock while stage records are written: two runs that want the same new
 * variant, or a run and an rmi, must not both register an AMI or rewrite aws.state under each
 * other.  Returns the descriptor to close, or -1. */
static int lock_image(const char *image_dir, struct unik_error *err)
{
	_cleanup_free_ char *p = unik_path_join(image_dir, AWS_LOCK_FILE);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		unik_error_sys(err, errno, "aws: open `%s`", p);
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			unik_error_sys(err, errno, "aws: lock `%s`", p);
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Uploads disk, imports it as a snapshot and registers an AMI on it, recording each step in
 * aws.state so that an interrupted stage resumes: the image's own disk when vkey is NULL, else
 * the variant vkey that bakes spec->cmdline.  disk may be NULL once the upload is recorded.
 * The caller holds the image's lock. */
static int stage_disk(const struct aws_config *c, const struct unik_stage_spec *spec,
                      const char *disk, const char *vkey, struct unik_error *err)
{
	_cleanup_free_ char *state_path = unik_path_join(spec->image_dir, AWS_IMAGE_STATE_FILE);
	_cleanup_free_ char *upload_name =
	    vkey ? xasprintf("aws-upload-%s.state", vkey) : xstrdup(AWS_UPLOAD_STATE_FILE);
	_cleanup_free_ char *upload_path = unik_path_join(spec->image_dir, upload_name);
	_cleanup_free_ char *bucket = NULL, *key = NULL, *what = NULL;
	_cleanup_kv_ struct unik_kv kv = {0};
	const char *region = c->region;
	char snap[64] = "";

	if (unik_kv_load(state_path, &kv, err) < 0)
		return -1;
	if (dget(&kv, region, vkey, "done"))
		return 0;
	if (!vkey && spec->cmdline && !unik_kv_find(&kv, "cmdline"))
		unik_kv_set(&kv, "cmdline", spec->cmdline);
	if (rget(&kv, region, "bucket"))
		bucket = xstrdup(rget(&kv, region, "bucket"));
	else if (unik_provider_opt(spec->opts, "bucket"))
		bucket = xstrdup(unik_provider_opt(spec->opts, "bucket"));
	else
		bucket = aws_default_bucket(region, c->access_key_id);
	key = vkey ? xasprintf("unik/%s/disk-%s.raw", spec->image_id, vkey)
	           : xasprintf("unik/%s/disk.raw", spec->image_id);
	what = vkey ? xasprintf("unik image %s (%s), command line %s", spec->image_id,
	                        spec->image_name ? spec->image_name : "", vkey)
	            : xasprintf("unik image %s (%s)", spec->image_id,
	                        spec->image_name ? spec->image_name : "");
	if (!vkey || !rget(&kv, region, "bucket")) {
		rset(&kv, region, "bucket", bucket);
		/* Where the AMIs live, so that unstage() (rmi, without options) reaches them. */
		rset(&kv, region, "ec2_endpoint_url", c->ec2_endpoint);
		rset(&kv, region, "s3_endpoint_url", c->s3_endpoint);
		rset(&kv, region, "profile", unik_provider_opt(spec->opts, "profile"));
	}
	dset(&kv, region, vkey, "key", key);
	if (vkey) {
		/* For people reading aws.state; the key is what run() looks the variant up by. */
		_cleanup_free_ char *line = xstrdup(spec->cmdline ? spec->cmdline : "");

		for (char *p = line; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		dset(&kv, region, vkey, "cmdline", line);
	} else {
		unik_kv_set(&kv, "image_id", spec->image_id);
		if (spec->image_name && *spec->image_name)
			unik_kv_set(&kv, "image_name", spec->image_name);
	}

	if (!dget(&kv, region, vkey, "snapshot") && !dget(&kv, region, vkey, "task")) {
		_cleanup_free_ char *task = NULL;
		const char *role = unik_provider_opt(spec->opts, "import_role");

		if (!disk) {
			unik_error_set(err, UNIK_E_INTERNAL, "aws: no disk to upload for %s", what);
			return -1;
		}
		progress(spec, "uploading %s to s3://%s/%s", disk, bucket, key);
		if (aws_s3_upload(c, bucket, key, disk, upload_path, upload_progress, (void *)spec,
		                  err) < 0) {
			unik_error_prefix(err, "aws: upload the disk to s3://%s/%s", bucket, key);
			return -1;
		}
		if (aws_ec2_import_snapshot(c, bucket, key, what, role, &task, err) < 0) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			if (strstr(msg, "role") || strstr(msg, "vmimport"))
				unik_error_set(
				    err, err->code,
				    "aws: %s (ImportSnapshot needs the IAM service role `%s`: "
				    "see docs/providers/aws.md)",
				    msg, role && *role ? role : "vmimport");
			else
				unik_error_prefix(err, "aws");
			return -1;
		}
		dset(&kv, region, vkey, "task", task);
		if (save_image_state(state_path, &kv, err) < 0)
			return -1;
		progress(spec, "importing snapshot: task %s", task);
	}
	if (!dget(&kv, region, vkey, "snapshot")) {
		if (wait_import(c, spec, dget(&kv, region, vkey, "task"), snap, err) < 0) {
			if (strstr(err->msg, "failed:")) {
				/* A failed task is final: the next stage starts a new one. */
				dset(&kv, region, vkey, "task", NULL);
				save_image_state(state_path, &kv, NULL);
			}
			return -1;
		}
		dset(&kv, region, vkey, "snapshot", snap);
		if (save_image_state(state_path, &kv, err) < 0)
			return -1;
	}
	if (!dget(&kv, region, vkey, "ami")) {
		long long stamp = (long long)time(NULL);
		_cleanup_free_ char *name =
		    vkey ? aws_variant_ami_name(spec->image_name, spec->image_id, vkey, stamp)
		         : aws_ami_name(spec->image_name, spec->image_id, stamp);
		_cleanup_free_ char *ami = NULL;
		_cleanup_free_ char *desc =
		    vkey ? xasprintf("unik image %s, command line %s", spec->image_id, vkey)
		         : xasprintf("unik image %s", spec->image_id);

		if (aws_ec2_register_image(c, name, desc, dget(&kv, region, vkey, "snapshot"), &ami,
		                           err) < 0) {
			unik_error_prefix(err, "aws");
			return -1;
		}
		dset(&kv, region, vkey, "ami", ami);
		dset(&kv, region, vkey, "ami_name", name);
		if (save_image_state(state_path, &kv, err) < 0)
			return -1;
		progress(spec, "registered %s (%s)", ami, name);
	}
	if (wait_image(c, spec, dget(&kv, region, vkey, "ami"), err) < 0) {
		unik_error_prefix(err, "aws");
		return -1;
	}
	/* The AMI holds the disk now: the S3 object was only the way in. */
	if (aws_s3_delete(c, bucket, key, err) < 0) {
		unik_error_prefix(err, "aws: delete the temporary s3://%s/%s", bucket, key);
		return -1;
	}
	if (unlink(upload_path) < 0 && errno != ENOENT) {
		unik_error_sys(err, errno, "aws: remove `%s`", upload_path);
		return -1;
	}
	dset(&kv, region, vkey, "task", NULL);
	dset(&kv, region, vkey, "done", "1");
	if (save_image_state(state_path, &kv, err) < 0)
		return -1;
	progress(spec, "staged as %s in %s", dget(&kv, region, vkey, "ami"), region);
	return 0;
}

static int aws_stage(void *ctx, const struct unik_stage_spec *spec, struct unik_error *err)
{
	(void)ctx;
	_cleanup_free_ char *state_path = NULL;
	_cleanup_kv_ struct unik_kv kv = {0};
	_cleanup_close_ int lock = -1;
	struct aws_config c = {0};
	int rc = -1;

	if (!spec->image_dir || !spec->image || !spec->image_id) {
		unik_error_set(err, UNIK_E_INVALID,
		               "aws: staging needs the image, its id and its directory");
		return -1;
	}
	if (aws_config_load(spec->opts, &c, err) < 0)
		return -1;
	/* A finished stage answers without waiting for the lock another run may hold while it
	 * stages a variant. */
	state_path = unik_path_join(spec->image_dir, AWS_IMAGE_STATE_FILE);
	if (unik_kv_load(state_path, &kv, err) < 0)
		goto out;
	if (rget(&kv, c.region, "done")) {
		rc = 0;
		goto out;
	}
	if ((lock = lock_image(spec->image_dir, err)) < 0)
		goto out;
	rc = stage_disk(&c, spec, spec->image, NULL, err);
out:
	aws_config_free(&c);
	return rc;
}

/* Deregisters the AMI and deletes the snapshot of one disk's record (vkey NULL: the image's
 * own), then forgets the record.  Things already gone are fine. */
static int unstage_disk(const struct aws_config *c, struct unik_kv *kv, const char *region,
                        const char *vkey, struct unik_error *err)
{
	static const char *const fields[] = {"ami", "snapshot", "done",    "task",
	                                     "key", "ami_name", "cmdline", NULL};
	const char *ami = dget(kv, region, vkey, "ami"), *snap = dget(kv, region, vkey, "snapshot");
	const char *bucket = rget(kv, region, "bucket"), *key = dget(kv, region, vkey, "key");

	if (ami && aws_ec2_deregister_image(c, ami, err) < 0 &&
	    !aws_ec2_error_is(err, ".NotFound") && !aws_ec2_error_is(err, ".Unavailable"))
		return -1;
	dset(kv, region, vkey, "ami", NULL);
	if (snap && aws_ec2_delete_snapshot(c, snap, err) < 0 &&
	    !aws_ec2_error_is(err, ".NotFound"))
		return -1;
	unik_error_clear(err);
	/* An interrupted stage may have left its upload behind. */
	if (!dget(kv, region, vkey, "done") && bucket && key)
		aws_s3_delete(c, bucket, key, NULL);
	for (size_t i = 0; fields[i]; i++)
		if (vkey || strcmp(fields[i], "cmdline"))
			dset(kv, region, vkey, fields[i], NULL);
	return 0;
}

static int aws_unstage(void *ctx, const char *image_dir, const char *const *opts,
                       struct unik_error *err)
{
	(void)ctx;
	_cleanup_free_ char *state_path = unik_path_join(image_dir, AWS_IMAGE_STATE_FILE);
	_cleanup_kv_ struct unik_kv kv = {0};
	_cleanup_strv_ struct strv regions = {0};
	_cleanup_close_ int lock = -1;
	int rc = 0;

	if (!unik_file_exists_in(image_dir, AWS_IMAGE_STATE_FILE))
		return 0; /* never staged: nothing to lock either */
	if ((lock = lock_image(image_dir, err)) < 0)
		return -1;
	if (unik_kv_load(state_path, &kv, err) < 0)
		return -1;
	/* Every region this image was staged in: keys "<region>.bucket". */
	for (size_t i = 0; i < kv.lines.n; i++) {
		const char *dot = strstr(kv.lines.v[i], ".bucket=");

		if (dot && !memchr(kv.lines.v[i], '.', (size_t)(dot - kv.lines.v[i])))
			strv_push_take(&regions,
			               xstrndup(kv.lines.v[i], (size_t)(dot - kv.lines.v[i])));
	}
	for (size_t i = 0; i < regions.n && rc == 0; i++) {
		const char *region = regions.v[i];
		_cleanup_strv_ struct strv o = {0}, variants = {0};
		struct aws_config c = {0};

		/* The options given, then what the stage recorded: the AMI is where it was made. */
		for (size_t j = 0; opts && opts[j]; j++)
			strv_push(&o, opts[j]);
		strv_pushf(&o, "region=%s", region);
		if (rget(&kv, region, "ec2_endpoint_url"))
			strv_pushf(&o, "ec2_endpoint_url=%s",
			           rget(&kv, region, "ec2_endpoint_url"));
		if (rget(&kv, region, "s3_endpoint_url"))
			strv_pushf(&o, "s3_endpoint_url=%s", rget(&kv, region, "s3_endpoint_url"));
		if (rget(&kv, region, "profile"))
			strv_pushf(&o, "profile=%s", rget(&kv, region, "profile"));
		if (aws_config_load((const char *const *)strv_argv(&o), &c, err) < 0) {
			rc = -1;
			break;
		}
		kv_variants(&kv, region, &variants);
		for (size_t j = 0; j < variants.n && rc == 0; j++)
			if (unstage_disk(&c, &kv, region, variants.v[j], err) < 0)
				rc = -1;
		if (rc == 0 && unstage_disk(&c, &kv, region, NULL, err) < 0)
			rc = -1;
		if (rc == 0) {
			rset(&kv, region, "bucket", NULL);
			rset(&kv, region, "ec2_endpoint_url", NULL);
			rset(&kv, region, "s3_endpoint_url", NULL);
			rset(&kv, region, "profile", NULL);
		}
		aws_config_free(&c);
		if (rc < 0)
			unik_error_prefix(err, "aws: unstage from %s", region);
	}
	/* What was undone is forgotten even when a later step failed, so a retry goes on from
	 * there. */
	if (unik_kv_save(state_path, &kv, rc < 0 ? NULL : err) < 0)
		return -1;
	return rc;
}

/* ---- instances: records and the status cache ---------------------------------------------- */

/* The configuration an instance was started with, from its provider.state. */
static int instance_config(const struct unik_kv *st, struct aws_config *c, struct unik_error *err)
{
	_cleanup_strv_ struct strv o = {0};
	const char *keys[] = {"profile", "region", "ec2_endpoint_url", "s3_endpoint_url"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = unik_kv_find(st, keys[i]);

		if (v && *v)
			strv_pushf(&o, "%s=%s", keys[i], v);
	}
	return aws_config_load((const char *const *)strv_argv(&o), c, err);
}

static int load_instance(const char *dir, struct unik_kv *st, struct unik_error *err)
{
	_cleanup_free_ char *p = unik_path_join(dir, AWS_STATE_FILE);
	struct stat sb;

	if (stat(dir, &sb) < 0) {
		unik_error_sys(err, errno, "aws: instance directory `%s`", dir);
		return -1;
	}
	return unik_kv_load(p, st, err);
}

struct cache_entry {
	char *dir;
	long long at;
	bool no_latest; /* GetConsoleOutput refused Latest=true (not a Nitro instance) */
	struct unik_instance_status st;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry *cache;
static size_t cache_n;

static struct cache_entry *cache_find(const char *dir)
{
	for (size_t i = 0; i < cache_n; i++)
		if (!strcmp(cache[i].dir, dir))
			return &cache[i];
	cache = xrealloc(cache, (cache_n + 1) * sizeof(*cache));
	memset(&cache[cache_n], 0, sizeof(*cache));
	cache[cache_n].dir = xstrdup(dir);
	return &cache[cache_n++];
}

static void cache_forget(const char *dir)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < cache_n; i++)
		if (!strcmp(cache[i].dir, dir)) {
			free(cache[i].dir);
			cache[i] = cache[--cache_n];
			break;
		}
	pthread_mutex_unlock(&cache_lock);
}

/* Fetches EC2's console snapshot and appends what is new to console.log. */
static int console_refresh(const struct aws_config *c, const char *dir, const char *iid,
                           bool *no_latest, struct unik_error *err)
{
	_cleanup_free_ char *snap_path = unik_path_join(dir, AWS_CONSOLE_SNAP_FILE);
	_cleanup_free_ char *log_path = unik_path_join(dir, AWS_CONSOLE_FILE);
	_cleanup_free_ char *snap = NULL, *old = NULL;
	size_t slen = 0, olen = 0, seen;

	if (aws_ec2_console_output(c, iid, !*no_latest, &snap, &slen, err) < 0) {
		if (*no_latest || (!aws_ec2_error_is(err, "UnsupportedOperation") &&
		                   !aws_ec2_error_is(err, "InvalidParameterCombination") &&
		                   !aws_ec2_error_is(err, "InvalidParameter")))
			return -1;
		*no_latest = true;
		if (aws_ec2_console_output(c, iid, false, &snap, &slen, err) < 0)
			return -1;
	}
	if (slen == 0)
		return 0;
	if (unik_read_file(snap_path, &old, &olen, NULL) < 0) {
		old = NULL;
		olen = 0;
	}
	seen = aws_console_seen(old, olen, snap, slen);
	if (seen == slen)
		return 0;
	if (append_file(log_path, snap + seen, slen - seen, err) < 0)
		return -1;
	return unik_write_file_atomic(snap_path, snap, slen, 0644, err);
}

static bool console_ends_line(const char *dir)
{
	_cleanup_free_ char *p = unik_path_join(dir, AWS_CONSOLE_FILE);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char last = 0;

	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size == 0)
		return false;
	return pread(fd, &last, 1, sb.st_size - 1) == 1 && last == '\n';
}

static long long read_number(const char *dir, const char *name)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);
	_cleanup_free_ char *text = NULL;

	if (unik_read_file(p, &text, NULL, NULL) < 0)
		return -1;
	return strtoll(text, NULL, 10);
}

static void write_final(const char *dir, const struct unik_instance_status *st)
{
	_cleanup_free_ char *text =
	    xasprintf("state=%s\nexit_code=%d\nip=%s\ndetail=%s\n",
	              unik_instance_state_name(st->state), st->exit_code, st->ip, st->detail);

	dir_write(dir, AWS_FINAL_FILE, text, NULL);
}

static bool read_final(const char *dir, struct unik_instance_status *st)
{
	_cleanup_free_ char *p = unik_path_join(dir, AWS_FINAL_FILE);
	_cleanup_kv_ struct unik_kv kv = {0};
	const char *s, *v;

	if (!unik_file_exists_in(dir, AWS_FINAL_FILE) || unik_kv_load(p, &kv, NULL) < 0 ||
	    !(s = unik_kv_find(&kv, "state")))
		return false;
	if (!strcmp(s, "exited"))
		st->state = UNIK_STATE_EXITED;
	else if (!strcmp(s, "crashed"))
		st->state = UNIK_STATE_CRASHED;
	else if (!strcmp(s, "stopped"))
		st->state = UNIK_STATE_STOPPED;
	else
		return false;
	st->exit_code = (v = unik_kv_find(&kv, "exit_code")) ? atoi(v) : -1;
	snprintf(st->ip, sizeof(st->ip), "%s", (v = unik_kv_find(&kv, "ip")) ? v : "");
	snprintf(st->detail, sizeof(st->detail), "%s", (v = unik_kv_find(&kv, "detail")) ? v : "");
	return true;
}

static void fill_handles(const struct unik_kv *kv, struct unik_instance_status *st)
{
	const char *v;

	snprintf(st->handle, sizeof(st->handle), "%s",
	         (v = unik_kv_find(kv, "ec2_instance")) ? v : "");
	snprintf(st->handle_id, sizeof(st->handle_id), "%s",
	         (v = unik_kv_find(kv, "ami")) ? v : "");
}

/* Asks AWS and decides the state (no cache). */
static int fresh_status(const char *dir, const struct unik_kv *kv, bool *no_latest,
                        struct unik_instance_status *st, struct unik_error *err)
{
	const char *iid = unik_kv_find(kv, "ec2_instance");
	struct aws_config c = {0};
	struct ec2_instance in;
	struct unik_console_end con;
	struct unik_error cerr = {0};
	bool ended, running, stopped_marker = unik_file_exists_in(dir, AWS_STOPPED_FILE);
	int rc = -1;

	if (instance_config(kv, &c, err) < 0)
		return -1;
	if (aws_ec2_describe_instance(&c, iid, &in, err) < 0) {
		if (!aws_ec2_error_is(err, ".NotFound"))
			goto out;
		/* Gone (terminated long ago, or by someone else). */
		unik_error_clear(err);
		snprintf(in.state, sizeof(in.state), "terminated");
		snprintf(in.reason, sizeof(in.reason), "the EC2 instance %s no longer exists", iid);
		in.public_ip[0] = in.private_ip[0] = '\0';
	} else if (strcmp(in.state, "terminated") && strcmp(in.state, "pending")) {
		/* The console is worth keeping even when AWS refuses it now; a failure here is
		 * only noted. */
		if (console_refresh(&c, dir, iid, no_latest, &cerr) < 0)
			fprintf(stderr, "aws: console of %s: %s\n", iid, cerr.msg);
	}
	snprintf(st->ip, sizeof(st->ip), "%s", in.public_ip[0] ? in.public_ip : in.private_ip);
	running = !strcmp(in.state, "running") || !strcmp(in.state, "pending");
	ended = !strcmp(in.state, "stopped") || !strcmp(in.state, "terminated");
	unik_console_read_end(dir, &con);
	if (running && !console_ends_line(dir))
		con.exit_status = -1, con.crashed = false;

	if (con.crashed || con.exit_status >= 0) {
		st->state = con.crashed ? UNIK_STATE_CRASHED : UNIK_STATE_EXITED;
		st->exit_code = con.crashed ? 255 : con.exit_status;
		if (con.crashed)
			unik_status_detail(st, "%s", con.crash_line);
		/* The guest ended; an instance still running would be billed for nothing. */
		if (running && !unik_file_exists_in(dir, AWS_AUTOSTOP_FILE) &&
		    aws_ec2_stop_instance(&c, iid, true, &cerr) == 0)
			dir_write(dir, AWS_AUTOSTOP_FILE, "stopped after the guest's exit line\n",
			          NULL);
	} else if (running) {
		st->state = !strcmp(in.state, "pending") ? UNIK_STATE_PENDING : UNIK_STATE_RUNNING;
		if (stopped_marker)
			unik_status_detail(st, "stopping");
	} else if (stopped_marker) {
		st->state = UNIK_STATE_STOPPED;
		unik_status_detail(st, "stopped on request (EC2: %s)", in.state);
	} else {
		long long first = read_number(dir, AWS_ENDED_FILE), now = (long long)time(NULL);

		if (first < 0) {
			char text[32];

			snprintf(text, sizeof(text), "%lld\n", now);
			dir_write(dir, AWS_ENDED_FILE, text, NULL);
			first = now;
		}
		if (now - first < CONSOLE_GRACE_S) {
			st->state = UNIK_STATE_RUNNING;
			unik_status_detail(st, "EC2 says %s; waiting for the console's last lines",
			                   in.state);
		} else {
			st->state = UNIK_STATE_CRASHED;
			unik_status_detail(
			    st, "the EC2 instance is %s without an exit status from the guest%s%s",
			    in.state, in.reason[0] ? ": " : "", in.reason);
		}
	}
	if (ended && st->state != UNIK_STATE_RUNNING && st->state != UNIK_STATE_PENDING)
		write_final(dir, st);
	rc = 0;
out:
	aws_config_free(&c);
	return rc;
}

static int aws_status(void *ctx, const char *dir, struct unik_instance_status *st,
                      struct unik_error *err)
{
	(void)ctx;
	_cleanup_kv_ struct unik_kv kv = {0};
	struct cache_entry *e;
	bool no_latest;
	int rc;

	memset(st, 0, sizeof(*st));
	st->exit_code = -1;
	if (load_instance(dir, &kv, err) < 0)
		return -1;
	fill_handles(&kv, st);
	if (!unik_kv_find(&kv, "ec2_instance")) {
		st->state = UNIK_STATE_PENDING; /* nothing started here */
		return 0;
	}
	if (read_final(dir, st))
		return 0;
	pthread_mutex_lock(&cache_lock);
	e = cache_find(dir);
	if (e->at && unik_now_ms() - e->at < STATUS_PERIOD_MS) {
		*st = e->st;
		pthread_mutex_unlock(&cache_lock);
		return 0;
	}
	/* Claim this period before the slow call, so other threads take the cached answer. */
	e->at = unik_now_ms();
	no_latest = e->no_latest;
	pthread_mutex_unlock(&cache_lock);

	rc = fresh_status(dir, &kv, &no_latest, st, err);
	fill_handles(&kv, st);

	pthread_mutex_lock(&cache_lock);
	e = cache_find(dir);
	if (rc == 0) {
		e->st = *st;
		e->no_latest = no_latest;
	} else {
		e->at = 0;
	}
	pthread_mutex_unlock(&cache_lock);
	return rc;
}

/* ---- run, stop, start, remove -------------------------------------------------------------- */

/* This run's output begins where console.log ends now (the daemon may have written staging
 * notes there; a restart appends to the previous run's output). */
static int mark_console_start(const char *dir, struct unik_error *err)
{
	_cleanup_free_ char *log = unik_path_join(dir, AWS_CONSOLE_FILE);
	_cleanup_close_ int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	struct stat sb;
	char text[32];

	if (fd < 0 || fstat(fd, &sb) < 0) {
		unik_error_sys(err, errno, "aws: open `%s`", log);
		return -1;
	}
	snprintf(text, sizeof(text), "%lld\n", (long long)sb.st_size);
	return dir_write(dir, UNIK_CONSOLE_START_FILE, text, err);
}

/* run() has no progress callback: its staging notes go to console.log as the daemon's own
 * do, before console.start is marked, so that the exit-status parser never reads them. */
static void run_note(void *ctx, const char *line)
{
	_cleanup_free_ char *path = unik_path_join(ctx, AWS_CONSOLE_FILE);
	_cleanup_free_ char *text = xasprintf("unik: %s\n", line);

	append_file(path, text, strlen(text), NULL);
}

/* Packs the raw disk of a variant (the image's kernel and root fs with spec->cmdline baked in)
 * into <image_dir>/aws-variant-<key>.raw; returns its path.  images/disk refuses a command
 * line GRUB cannot carry, and that message reaches the user as it is. */
static char *pack_variant(const struct unik_run_spec *spec, const struct unik_stage_spec *ss,
                          const char *image_dir, const char *vkey, struct unik_error *err)
{
	const struct unik_image_format *raw = unik_image_format_find("raw");
	_cleanup_free_ char *kernel = NULL, *rootfs = NULL;
	_cleanup_free_ char *base = xasprintf("aws-variant-%s.raw", vkey);
	char *disk = unik_path_join(image_dir, base);
	uint64_t size = 0;

	/* The kernel ELF, or the image store's copy when the caller handed the disk in its place
	 * (as tests/tools/provider_driver does). */
	if (spec->kernel && strcmp(spec->kernel, spec->image))
		kernel = xstrdup(spec->kernel);
	else
		kernel = unik_path_join(image_dir, "kernel.elf");
	if (spec->initrd)
		rootfs = xstrdup(spec->initrd);
	else if (unik_file_exists_in(image_dir, "rootfs.cpio"))
		rootfs = unik_path_join(image_dir, "rootfs.cpio");
	struct unik_artifacts a = {
	    .kernel = kernel,
	    .rootfs = rootfs,
	    .cmdline = spec->cmdline,
	    .name = ss->image_name,
	    .memory_mb = spec->memory_mb,
	};
	if (!raw) {
		unik_error_set(err, UNIK_E_INTERNAL,
		               "aws: the raw image format is not compiled in");
		free(disk);
		return NULL;
	}
	progress(ss,
	         "the command line `%s` is not the one baked into the image: staging a disk "
	         "for it (variant %s)",
	         spec->cmdline, vkey);
	if (raw->pack(&a, disk, &size, err) < 0) {
		unlink(disk);
		free(disk);
		return NULL;
	}
	return disk;
}

/* Stages what run() needs under the image's lock: the image's own AMI when this region has
 * none, and the variant for spec->cmdline when it differs from the baked one.  Another run
 * may have done either while this one waited for the lock. */
static int run_stage(const struct aws_config *c, const struct unik_run_spec *spec,
                     const char *image_dir, struct unik_error *err)
{
	_cleanup_free_ char *state_path = unik_path_join(image_dir, AWS_IMAGE_STATE_FILE);
	_cleanup_free_ char *disk = NULL, *image_id = NULL, *image_name = NULL;
	_cleanup_close_ int lock = lock_image(image_dir, err);
	_cleanup_kv_ struct unik_kv kv = {0};
	struct unik_stage_spec ss = {
	    .image_id = spec->image_id ? spec->image_id : "image",
	    .image_name = spec->instance_name,
	    .image_dir = image_dir,
	    .image = spec->image,
	    .kernel = spec->kernel,
	    .cmdline = NULL,
	    .memory_mb = spec->memory_mb,
	    .opts = spec->opts,
	    .progress = run_note,
	    .ctx = (void *)spec->instance_dir,
	};
	char vkey[17];
	int rc;

	if (lock < 0 || unik_kv_load(state_path, &kv, err) < 0)
		return -1;
	if (!rget(&kv, c->region, "done")) {
		if (stage_disk(c, &ss, spec->image, NULL, err) < 0)
			return -1;
		unik_kv_free(&kv);
		if (unik_kv_load(state_path, &kv, err) < 0)
			return -1;
	}
	if (!wants_variant(&kv, spec->cmdline))
		return 0;
	aws_variant_key(spec->cmdline, vkey);
	if (dget(&kv, c->region, vkey, "done"))
		return 0;
	/* A variant belongs to the image the stage recorded, whatever id the caller gives. */
	if (unik_kv_find(&kv, "image_id"))
		ss.image_id = image_id = xstrdup(unik_kv_find(&kv, "image_id"));
	if (unik_kv_find(&kv, "image_name"))
		ss.image_name = image_name = xstrdup(unik_kv_find(&kv, "image_name"));
	ss.cmdline = spec->cmdline;
	/* The disk is only needed until S3 has it; a stage resumed after that goes on without. */
	if (!dget(&kv, c->region, vkey, "task") && !dget(&kv, c->region, vkey, "snapshot") &&
	    !(disk = pack_variant(spec, &ss, image_dir, vkey, err)))
		return -1;
	rc = stage_disk(c, &ss, disk, vkey, err);
	if (disk)
		unlink(disk);
	return rc;
}

/* ---- networking ---------------------------------------------------------------------------- */

int aws_ingress_rules(const struct unik_device *devs, size_t n, const char *security_group,
                      struct strv *rules, struct unik_error *err)
{
	const struct unik_device *nic = NULL;
	size_t nblk = 0;

	for (size_t i = 0; i < n; i++) {
		const struct unik_device *d = &devs[i];

		if (d->kind == UNIK_DEVICE_BLK) {
			/* An EBS volume made from the disk (volumes_snapshot); EC2 imports raw
			 * disks only here. */
			if (d->format && strcmp(d->format, "raw")) {
				unik_error_set(
				    err, UNIK_E_UNSUPPORTED,
				    "aws: volume \"%s\": the disk is %s; aws imports raw "
				    "disks",
				    d->name ? d->name : "", d->format);
				return -1;
			}
			if (++nblk > AWS_MAX_VOLUMES) {
				unik_error_set(err, UNIK_E_UNSUPPORTED,
				               "aws: %zu volumes: an instance gets %d at most here "
				               "(/dev/sdf to /dev/sdp)",
				               nblk, AWS_MAX_VOLUMES);
				return -1;
			}
			continue;
		}
		if (d->kind == UNIK_DEVICE_FS) {
			unik_error_set(
			    err, UNIK_E_UNSUPPORTED,
			    "aws: share \"%s\": host shares need a local hypervisor; use a "
			    "volume (unik volume create NAME --from DIR, then -v NAME:%s)",
			    d->name ? d->name : "", d->mount ? d->mount : "/PATH");
			return -1;
		}
		if (d->kind != UNIK_DEVICE_NET) {
			unik_error_set(err, UNIK_E_UNSUPPORTED,
			               "aws: device \"%s\" is of a kind aws does not attach",
			               d->name ? d->name : "");
			return -1;
		}
		if (nic) {
			unik_error_set(err, UNIK_E_UNSUPPORTED,
			               "aws: net devices \"%s\" and \"%s\": an instance has one "
			               "network interface here, its primary one",
			               nic->name, d->name);
			return -1;
		}
		nic = d;
		if ((d->tap && d->tap[0]) || (d->network && d->network[0])) {
			unik_error_set(err, UNIK_E_UNSUPPORTED,
			               "aws: net device \"%s\": %s \"%s\" is a thing of this host, "
			               "not of EC2: the instance's network interface is in the "
			               "subnet of option subnet=, behind security_group=",
			               d->name, d->tap && d->tap[0] ? "tap" : "network",
			               d->tap && d->tap[0] ? d->tap : d->network);
			return -1;
		}
	}
	for (size_t k = 0; nic && k < nic->nports; k++) {
		const struct unik_port *pt = &nic->ports[k];
		char port[96];

		unik_port_format(pt, port, sizeof(port));
		/* EC2 has no address translation in front of an instance: what reaches its
		 * address on a port reaches the guest on that same port. */
		if (pt->host_port != pt->guest_port) {
			unik_error_set(
			    err, UNIK_E_UNSUPPORTED,
			    "aws: port %s: EC2 does not map ports, the guest's port is the "
			    "instance's: publish it as %u:%u",
			    port, pt->guest_port, pt->guest_port);
			return -1;
		}
		if (!security_group || !*security_group) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "aws: port %s: publishing ports on EC2 opens them in a security "
			    "group: give one with --provider-opt security_group=sg-...",
			    port);
			return -1;
		}
		strv_pushf(rules, "%s:%u:%s/%s", unik_port_proto_name(pt->proto), pt->guest_port,
		           pt->host_ip[0] ? pt->host_ip : "0.0.0.0", pt->host_ip[0] ? "32" : "0");
	}
	return 0;
}

char *aws_cmdline_without_devices(const char *cmdline, const struct unik_device *devs, size_t n)
{
	_cleanup_free_ char *words = NULL;
	size_t len;

	if (!cmdline)
		return xstrdup("");
	if (!n)
		return xstrdup(cmdline);
	/* The core put exactly these words in front (core/vm.c). */
	words = unik_devices_cmdline(devs, n, "");
	len = strlen(words);
	if (strncmp(cmdline, words, len) || (cmdline[len] && cmdline[len] != ' '))
		return xstrdup(cmdline);
	/* And the hostname word after them (an instance name: never quoted); EC2 names the
	 * machine itself, and a line of only that word would hide the AMI's baked line. */
	return xstrdup(unik_skip_hostname_word(cmdline + len + (cmdline[len] ? 1 : 0)));
}

char *aws_guest_cmdline(const char *cmdline, const struct unik_device *devs, size_t n,
                        const char *baked)
{
	_cleanup_free_ char *rest = aws_cmdline_without_devices(cmdline, devs, n);
	_cleanup_free_ struct unik_device *blk = xcalloc(n ? n : 1, sizeof(*blk));
	size_t nblk = 0;

	for (size_t i = 0; i < n; i++)
		if (devs[i].kind == UNIK_DEVICE_BLK)
			blk[nblk++] = devs[i];
	if (!nblk)
		return xstrdup(rest);
	/* The AMI boots the line baked into its disk: a line of only manifest words would boot
	 * the ELF's defaults instead of the image's (docs/guest-abi.md), so the volumes' words go
	 * in front of the baked line when the run gives none. */
	return unik_devices_cmdline(blk, nblk, *rest || !baked ? rest : baked);
}

/* Adds or takes away the ingress rules words (blank-separated), for remove() and for a run that
 * failed.  With authorize, the rules EC2 did not have go into added (a rule the group has
 * already belongs to someone else, who keeps it); on a failure the ones added so far are taken
 * away again. */
static int ingress(const struct aws_config *c, bool authorize, const char *group,
                   const struct strv *rules, const char *description, struct strv *added,
                   struct unik_error *err)
{
	for (size_t i = 0; i < rules->n; i++) {
		if (aws_ec2_ingress(c, authorize, group, rules->v[i], description, err) == 0) {
			if (added)
				strv_push(added, rules->v[i]);
			continue;
		}
		if (aws_ec2_error_is(err, authorize ? "InvalidPermission.Duplicate"
		                                    : "InvalidPermission.NotFound") ||
		    (!authorize && aws_ec2_error_is(err, "InvalidGroup.NotFound"))) {
			unik_error_clear(err);
			continue;
		}
		unik_error_prefix(err, "aws: %s ingress %s in %s",
		                  authorize ? "authorize" : "revoke", rules->v[i], group);
		if (authorize && added) {
			struct unik_error e2;

			(void)ingress(c, false, group, added, NULL, NULL, &e2);
		}
		return -1;
	}
	return 0;
}

static bool is_state(const struct ec2_instance *in, const char *a, const char *b)
{
	return !strcmp(in->state, a) || (b && !strcmp(in->state, b));
}

/* Polls DescribeInstances until the instance is in state a or b, or timeout_ms passed. */
static int wait_state(const struct aws_config *c, const char *iid, const char *a, const char *b,
                      int timeout_ms, bool *reached, struct unik_error *err)
{
	long long deadline = unik_now_ms() + timeout_ms, delay = 250;
	struct ec2_instance in;

	for (;;) {
		if (aws_ec2_describe_instance(c, iid, &in, err) < 0)
			return -1;
		if (is_state(&in, a, b) || unik_now_ms() >= deadline) {
			*reached = is_state(&in, a, b);
			return 0;
		}
		sleep_ms(delay);
		delay = delay * 2 > 5000 ? 5000 : delay * 2;
	}
}

/* ---- volumes: EBS volumes made from snapshots of the disks ---------------------------------- */

static void note(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const char *dir, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	run_note((void *)dir, line);
}

/* How long a volume may take to become available, attached or detached. */
#define VOLUME_LIMIT_MS (10 * 60 * 1000)

/* An instance's volumes are recorded in its provider.state: "volumes=NAME ..." (the blk devices
 * in order), and per device "volume.NAME.FIELD=": disk (the host file), disk_key (its size and
 * modification time when it was imported), task, snapshot, ebs (the EBS volume), device
 * ("/dev/sdf"), mount and readonly. */
static const char *vget(const struct unik_kv *kv, const char *name, const char *field)
{
	_cleanup_free_ char *k = xasprintf("volume.%s.%s", name, field);
	const char *v = unik_kv_find(kv, k);

	return v && *v ? v : NULL;
}

static void vset(struct unik_kv *kv, const char *name, const char *field, const char *value)
{
	_cleanup_free_ char *k = xasprintf("volume.%s.%s", name, field);

	if (value)
		unik_kv_set(kv, k, value);
	else
		unik_kv_del(kv, k);
}

static void volume_names(const struct unik_kv *kv, struct strv *out)
{
	_cleanup_free_ char *copy =
	    xstrdup(unik_kv_find(kv, "volumes") ? unik_kv_find(kv, "volumes") : "");
	char *save = NULL;

	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
		strv_push(out, w);
}

static int save_record(const char *dir, const struct unik_kv *kv, struct unik_error *err)
{
	_cleanup_free_ char *p = unik_path_join(dir, AWS_STATE_FILE);

	if (unik_kv_save(p, kv, err) < 0) {
		unik_error_prefix(err, "aws: record the instance");
		return -1;
	}
	return 0;
}

/* The disk's identity for its snapshot: "SIZE:SECONDS.NANOSECONDS" of its modification. */
static int disk_key(const char *path, char *key, size_t len, struct unik_error *err)
{
	struct stat sb;

	if (stat(path, &sb) < 0) {
		unik_error_sys(err, errno, "aws: volume disk `%s`", path);
		return -1;
	}
	snprintf(key, len, "%lld:%lld.%09ld", (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
	         sb.st_mtim.tv_nsec);
	return 0;
}

/* Turns each blk device's disk into an EBS snapshot the way stage_disk turns an image's: upload
 * to s3://bucket/unik/volumes/<instance>/<name>.raw, ImportSnapshot, and the S3 object deleted
 * once the snapshot holds the disk.  A disk that two devices share (same file, same size and
 * time) is imported once.  Each step is recorded in kv and saved, so that remove() finds the
 * snapshots of a run that died half-way. */
static int volumes_snapshot(const struct aws_config *c, const struct unik_run_spec *spec,
                            const char *bucket, struct unik_kv *kv, struct unik_error *err)
{
	const char *role = unik_provider_opt(spec->opts, "import_role");
	struct unik_stage_spec ss = {
	    .image_id = spec->instance_id ? spec->instance_id : "instance",
	    .opts = spec->opts,
	    .progress = run_note,
	    .ctx = (void *)spec->instance_dir,
	};
	_cleanup_strv_ struct strv names = {0};
	size_t nblk = 0;

	for (size_t i = 0; i < spec->ndevices; i++) {
		const struct unik_device *d = &spec->devices[i];
		char key[96], device[16], snap[64] = "";
		const char *shared = NULL;

		if (d->kind != UNIK_DEVICE_BLK)
			continue;
		snprintf(device, sizeof(device), "/dev/sd%c", (char)('f' + nblk++));
		if (disk_key(d->path, key, sizeof(key), err) < 0)
			return -1;
		for (size_t j = 0; j < names.n && !shared; j++)
			if (!strcmp(vget(kv, names.v[j], "disk"), d->path) &&
			    !strcmp(vget(kv, names.v[j], "disk_key"), key))
				shared = vget(kv, names.v[j], "snapshot");
		strv_push(&names, d->name);
		_cleanup_free_ char *list = strv_join(&names, " ");
		unik_kv_set(kv, "volumes", list);
		vset(kv, d->name, "disk", d->path);
		vset(kv, d->name, "disk_key", key);
		vset(kv, d->name, "device", device);
		vset(kv, d->name, "mount", d->mount ? d->mount : "");
		vset(kv, d->name, "readonly", d->readonly ? "1" : "0");
		if (shared) {
			vset(kv, d->name, "snapshot", shared);
			if (save_record(spec->instance_dir, kv, err) < 0)
				return -1;
			continue;
		}
		if (save_record(spec->instance_dir, kv, err) < 0)
			return -1;

		_cleanup_free_ char *s3key =
		    xasprintf("unik/volumes/%s/%s.raw", ss.image_id, d->name);
		_cleanup_free_ char *upload_name = xasprintf("aws-upload-%s.state", d->name);
		_cleanup_free_ char *upload_path = unik_path_join(spec->instance_dir, upload_name);
		_cleanup_free_ char *what =
		    xasprintf("unik volume %s of instance %s", d->name, ss.image_id);
		_cleanup_free_ char *task = NULL;

		progress(&ss, "volume %s: uploading %s to s3://%s/%s", d->name, d->path, bucket,
		         s3key);
		if (aws_s3_upload(c, bucket, s3key, d->path, upload_path, upload_progress,
		                  (void *)&ss, err) < 0) {
			unik_error_prefix(err, "aws: volume %s: upload the disk to s3://%s/%s",
			                  d->name, bucket, s3key);
			return -1;
		}
		if (aws_ec2_import_snapshot(c, bucket, s3key, what, role, &task, err) < 0) {
			unik_error_prefix(err, "aws: volume %s", d->name);
			aws_s3_delete(c, bucket, s3key, NULL);
			return -1;
		}
		vset(kv, d->name, "task", task);
		if (save_record(spec->instance_dir, kv, err) < 0)
			return -1;
		if (wait_import(c, &ss, task, snap, err) < 0) {
			unik_error_prefix(err, "aws: volume %s", d->name);
			aws_s3_delete(c, bucket, s3key, NULL);
			return -1;
		}
		vset(kv, d->name, "snapshot", snap);
		vset(kv, d->name, "task", NULL);
		if (save_record(spec->instance_dir, kv, err) < 0)
			return -1;
		/* The snapshot holds the disk now: the S3 object was only the way in. */
		if (aws_s3_delete(c, bucket, s3key, err) < 0) {
			unik_error_prefix(err, "aws: delete the temporary s3://%s/%s", bucket,
			                  s3key);
			return -1;
		}
	}
	return 0;
}

/* Polls DescribeVolumes until the volume is in state (and, with attach, its attachment is in
 * that state), failing on a volume in state "error" or after VOLUME_LIMIT_MS.  gone (may be
 * NULL) accepts a volume EC2 no longer knows. */
static int wait_volume(const struct aws_config *c, const char *vid, const char *state,
                       const char *attach, bool *gone, struct unik_error *err)
{
	long long deadline = unik_now_ms() + VOLUME_LIMIT_MS, delay = 250;
	struct ec2_volume v;

	for (;;) {
		if (aws_ec2_describe_volume(c, vid, &v, err) < 0) {
			if (gone && aws_ec2_error_is(err, ".NotFound")) {
				unik_error_clear(err);
				*gone = true;
				return 0;
			}
			return -1;
		}
		if (!strcmp(v.state, state) && (!attach || !strcmp(v.attach_state, attach)))
			return 0;
		if (!strcmp(v.state, "error")) {
			unik_error_set(err, UNIK_E_IO, "aws: the EBS volume %s is in state error",
			               vid);
			return -1;
		}
		if (unik_now_ms() > deadline) {
			unik_error_set(
			    err, UNIK_E_IO,
			    "aws: the EBS volume %s is still %s%s%s after %d minutes, not "
			    "%s%s%s",
			    vid, v.state, v.attach_state[0] ? "/" : "", v.attach_state,
			    VOLUME_LIMIT_MS / 60000, state, attach ? "/" : "",
			    attach ? attach : "");
			return -1;
		}
		sleep_ms(delay);
		delay = delay * 2 > 5000 ? 5000 : delay * 2;
	}
}

/* Creates the EBS volumes from their snapshots in the instance's availability zone, waits for
 * them to be available and for the instance to run (EC2 attaches to running or stopped
 * instances only), and attaches them in device order.  Each volume id is recorded as soon as
 * EC2 gives it. */
static int volumes_attach(const struct aws_config *c, const char *dir, const char *unik_id,
                          const char *iid, struct unik_kv *kv, struct unik_error *err)
{
	_cleanup_strv_ struct strv names = {0};
	struct ec2_instance in;
	bool reached = false;

	volume_names(kv, &names);
	if (!names.n)
		return 0;
	if (aws_ec2_describe_instance(c, iid, &in, err) < 0)
		return -1;
	if (!in.zone[0]) {
		unik_error_set(err, UNIK_E_IO,
		               "aws: EC2 does not say which availability zone %s is in", iid);
		return -1;
	}
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *vid = NULL;
		const char *snap = vget(kv, names.v[i], "snapshot");

		if (!snap) {
			unik_error_set(err, UNIK_E_INTERNAL, "aws: volume %s has no snapshot",
			               names.v[i]);
			return -1;
		}
		if (aws_ec2_create_volume(c, snap, in.zone, unik_id, names.v[i], &vid, err) < 0) {
			unik_error_prefix(err, "aws: volume %s", names.v[i]);
			return -1;
		}
		vset(kv, names.v[i], "ebs", vid);
		if (save_record(dir, kv, err) < 0)
			return -1;
		note(dir, "volume %s: created %s from %s in %s", names.v[i], vid, snap, in.zone);
	}
	for (size_t i = 0; i < names.n; i++)
		if (wait_volume(c, vget(kv, names.v[i], "ebs"), "available", NULL, NULL, err) < 0)
			return -1;
	if (wait_state(c, iid, "running", "stopped", STOPPED_LIMIT_MS, &reached, err) < 0)
		return -1;
	if (!reached) {
		unik_error_set(err, UNIK_E_IO,
		               "aws: %s is neither running nor stopped: its volumes cannot be "
		               "attached",
		               iid);
		return -1;
	}
	for (size_t i = 0; i < names.n; i++) {
		const char *vid = vget(kv, names.v[i], "ebs"),
		           *dev = vget(kv, names.v[i], "device");

		if (aws_ec2_attach_volume(c, vid, iid, dev, err) < 0) {
			unik_error_prefix(err, "aws: volume %s", names.v[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < names.n; i++) {
		const char *vid = vget(kv, names.v[i], "ebs"),
		           *dev = vget(kv, names.v[i], "device");

		if (wait_volume(c, vid, "in-use", "attached", NULL, err) < 0)
			return -1;
		note(dir, "volume %s: %s attached to %s as %s", names.v[i], vid, iid, dev);
	}
	return 0;
}

/* Detaches (forcibly with force: the instance may be running) and deletes the EBS volumes
 * recorded in kv, then deletes their snapshots, forgetting each in kv and saving it as it goes,
 * so that a second call after a failure goes on from there.  What is gone already is fine. */
static int volumes_release(const struct aws_config *c, const char *dir, struct unik_kv *kv,
                           bool force, struct unik_error *err)
{
	_cleanup_strv_ struct strv names = {0};

	volume_names(kv, &names);
	for (size_t i = 0; i < names.n; i++) {
		const char *vid = vget(kv, names.v[i], "ebs");
		bool gone = false;

		if (!vid)
			continue;
		if (aws_ec2_detach_volume(c, vid, force, err) < 0) {
			/* IncorrectState: not attached (never, or detached when the instance
			 * ended). */
			if (!aws_ec2_error_is(err, "IncorrectState") &&
			    !aws_ec2_error_is(err, ".NotFound"))
				goto fail;
			unik_error_clear(err);
		}
		if (wait_volume(c, vid, "available", NULL, &gone, err) < 0)
			goto fail;
		if (!gone && aws_ec2_delete_volume(c, vid, err) < 0 &&
		    !aws_ec2_error_is(err, ".NotFound"))
			goto fail;
		unik_error_clear(err);
		vset(kv, names.v[i], "ebs", NULL);
		if (save_record(dir, kv, err) < 0)
			return -1;
		continue;
	fail:
		unik_error_prefix(err, "aws: release the EBS volume %s (%s)", vid, names.v[i]);
		return -1;
	}
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *snap = vget(kv, names.v[i], "snapshot")
		                                ? xstrdup(vget(kv, names.v[i], "snapshot"))
		                                : NULL;

		if (!snap)
			continue;
		if (aws_ec2_delete_snapshot(c, snap, err) < 0 &&
		    !aws_ec2_error_is(err, ".NotFound")) {
			unik_error_prefix(err, "aws: delete the snapshot %s of volume %s", snap,
			                  names.v[i]);
			return -1;
		}
		unik_error_clear(err);
		/* Devices that shared the disk shared its snapshot. */
		for (size_t j = i; j < names.n; j++)
			if (vget(kv, names.v[j], "snapshot") &&
			    !strcmp(vget(kv, names.v[j], "snapshot"), snap))
				vset(kv, names.v[j], "snapshot", NULL);
		if (save_record(dir, kv, err) < 0)
			return -1;
	}
	return 0;
}

/* Undoes a run that failed after its record was begun: the EBS volumes and their snapshots, the
 * instance and the ingress rules it added.  When all of that is gone, so is provider.state
 * (nothing is left to find); otherwise it stays, naming what is left, for remove(). */
static void run_undo(const struct aws_config *c, const char *dir, struct unik_kv *kv,
                     const char *iid, const char *group, const struct strv *added)
{
	struct unik_error e2 = {0};
	bool left = false;

	if (volumes_release(c, dir, kv, true, &e2) < 0) {
		fprintf(stderr, "aws: %s\n", e2.msg);
		left = true;
	}
	unik_error_clear(&e2);
	if (iid && aws_ec2_terminate_instance(c, iid, &e2) < 0 &&
	    !aws_ec2_error_is(&e2, ".NotFound")) {
		fprintf(stderr, "aws: terminate %s: %s\n", iid, e2.msg);
		left = true;
	}
	unik_error_clear(&e2);
	if (added && group && ingress(c, false, group, added, NULL, NULL, &e2) < 0) {
		fprintf(stderr, "aws: %s\n", e2.msg);
		left = true;
	}
	if (!left)
		dir_unlink(dir, AWS_STATE_FILE, NULL);
}

static int aws_run(void *ctx, const struct unik_run_spec *spec, struct unik_instance_status *st,
                   struct unik_error *err)
{
	(void)ctx;
	_cleanup_free_ char *image_dir = NULL, *state_path = NULL, *iid = NULL, *bucket = NULL;
	_cleanup_free_ char *cmdline = NULL, *added_text = NULL;
	_cleanup_kv_ struct unik_kv kv = {0}, rec = {0};
	_cleanup_strv_ struct strv rules = {0}, added = {0}, vols = {0};
	struct aws_config c = {0};
	struct unik_run_spec s;
	const char *itype, *ami, *profile;
	const char *group = unik_provider_opt(spec->opts, "security_group");
	bool variant = false;
	char vkey[17] = "";
	int rc = -1;

	memset(st, 0, sizeof(*st));
	st->exit_code = -1;
	if (!spec->instance_dir || !spec->image) {
		unik_error_set(err, UNIK_E_INVALID,
		               "aws: an instance needs a directory and an image");
		return -1;
	}
	if (aws_ingress_rules(spec->devices, spec->ndevices, group, &rules, err) < 0)
		return -1;
	if (spec->image_dir) {
		image_dir = xstrdup(spec->image_dir);
	} else {
		/* The image lives in its image directory: stage records go next to it. */
		const char *slash = strrchr(spec->image, '/');

		image_dir =
		    slash ? xstrndup(spec->image, (size_t)(slash - spec->image) + 1) : xstrdup(".");
	}
	if (aws_config_load(spec->opts, &c, err) < 0)
		return -1;
	itype = unik_provider_opt(spec->opts, "instance_type");
	if (!itype || !*itype)
		itype = aws_instance_type_for(spec->memory_mb);
	if (!itype) {
		unik_error_set(err, UNIK_E_INVALID,
		               "aws: no instance type has %llu MiB; choose one with "
		               "--provider-opt instance_type=TYPE",
		               (unsigned long long)spec->memory_mb);
		goto out;
	}
	state_path = unik_path_join(image_dir, AWS_IMAGE_STATE_FILE);
	if (unik_kv_load(state_path, &kv, err) < 0)
		goto out;
	/* The NIC is the instance's primary network interface, whose MAC EC2 chooses and whose
	 * address its DHCP hands out: the words naming a MAC and an address that the core put in
	 * front of the command line mean nothing there, and would make every instance (each with
	 * a MAC of its own) an AMI variant of its own.  Without them the guest brings up the NIC
	 * it finds with DHCP (docs/guest-abi.md).  The volumes' words stay: the guest mounts its
	 * volumes by them, so a run with volumes boots a variant that bakes them (one per set of
	 * mounts, reused as any variant). */
	cmdline = aws_guest_cmdline(spec->cmdline, spec->devices, spec->ndevices,
	                            unik_kv_find(&kv, "cmdline"));
	s = *spec;
	s.cmdline = cmdline;
	spec = &s;
	if (!(ami = kv_ami_for(&kv, c.region, spec->cmdline, &variant))) {
		/* Not staged in this region yet (the daemon stages after a build for aws; an image
		 * built for another provider is staged on its first run), or a command line that
		 * needs its own disk. */
		unik_kv_free(&kv);
		if (run_stage(&c, spec, image_dir, err) < 0 ||
		    unik_kv_load(state_path, &kv, err) < 0)
			goto out;
		if (!(ami = kv_ami_for(&kv, c.region, spec->cmdline, &variant))) {
			unik_error_set(err, UNIK_E_INTERNAL,
			               "aws: `%s` records no AMI after staging", state_path);
			goto out;
		}
	}
	if (variant)
		aws_variant_key(spec->cmdline, vkey);

	/* Only a profile named in the options is recorded: naming one makes the SDK chain skip
	 * the environment's keys, which may be where the credentials came from. */
	profile = unik_provider_opt(spec->opts, "profile");
	unik_kv_set(&rec, "provider", "aws");
	unik_kv_set(&rec, "instance_id", spec->instance_id ? spec->instance_id : "");
	unik_kv_set(&rec, "region", c.region);
	unik_kv_set(&rec, "profile", profile ? profile : "");
	unik_kv_set(&rec, "ec2_endpoint_url", c.ec2_endpoint);

	/* The volumes' snapshots first: the slow part, which should fail before an instance is
	 * paid for.  They are recorded from the first step on, so that remove() can delete the
	 * snapshots of a run that died here. */
	for (size_t i = 0; i < spec->ndevices; i++)
		if (spec->devices[i].kind == UNIK_DEVICE_BLK)
			strv_push(&vols, spec->devices[i].name);
	if (vols.n) {
		if (rget(&kv, c.region, "bucket"))
			bucket = xstrdup(rget(&kv, c.region, "bucket"));
		else if (unik_provider_opt(spec->opts, "bucket"))
			bucket = xstrdup(unik_provider_opt(spec->opts, "bucket"));
		else
			bucket = aws_default_bucket(c.region, c.access_key_id);
		if (volumes_snapshot(&c, spec, bucket, &rec, err) < 0) {
			run_undo(&c, spec->instance_dir, &rec, NULL, NULL, NULL);
			goto out;
		}
	}

	if (rules.n) {
		_cleanup_free_ char *desc =
		    xasprintf("unik instance %s", spec->instance_id ? spec->instance_id : "");

		if (ingress(&c, true, group, &rules, desc, &added, err) < 0) {
			run_undo(&c, spec->instance_dir, &rec, NULL, NULL, NULL);
			goto out;
		}
	}
	added_text = strv_join(&added, " ");

	struct ec2_run_params rp = {
	    .image_id = ami,
	    .instance_type = itype,
	    .subnet = unik_provider_opt(spec->opts, "subnet"),
	    .security_group = unik_provider_opt(spec->opts, "security_group"),
	    .key_name = unik_provider_opt(spec->opts, "key_name"),
	    .unik_id = spec->instance_id,
	    .unik_name = spec->instance_name,
	};
	if (aws_ec2_run_instance(&c, &rp, &iid, err) < 0) {
		unik_error_prefix(err, "aws");
		run_undo(&c, spec->instance_dir, &rec, NULL, group, &added);
		goto out;
	}
	unik_kv_set(&rec, "ec2_instance", iid);
	unik_kv_set(&rec, "ami", ami);
	unik_kv_set(&rec, "instance_type", itype);
	unik_kv_set(&rec, "image_dir", image_dir);
	unik_kv_set(&rec, "variant", vkey);
	unik_kv_set(&rec, "security_group", group ? group : "");
	unik_kv_set(&rec, "ingress", added_text);
	if (save_record(spec->instance_dir, &rec, err) < 0) {
		/* Without its record nobody could find the instance again: do not leave it. */
		run_undo(&c, spec->instance_dir, &rec, iid, group, &added);
		goto out;
	}
	if (volumes_attach(&c, spec->instance_dir, spec->instance_id, iid, &rec, err) < 0) {
		run_undo(&c, spec->instance_dir, &rec, iid, group, &added);
		goto out;
	}
	if (mark_console_start(spec->instance_dir, err) < 0)
		goto out;
	cache_forget(spec->instance_dir);
	st->state = UNIK_STATE_PENDING;
	snprintf(st->handle, sizeof(st->handle), "%s", iid);
	snprintf(st->handle_id, sizeof(st->handle_id), "%s", ami);
	unik_status_detail(st, "%s in %s%s", itype, c.region, vols.n ? ", with EBS volumes" : "");
	rc = 0;
out:
	aws_config_free(&c);
	return rc;
}

static int aws_stop(void *ctx, const char *dir, bool force, int timeout_ms, struct unik_error *err)
{
	(void)ctx;
	_cleanup_kv_ struct unik_kv kv = {0};
	struct unik_instance_status st;
	struct aws_config c = {0};
	const char *iid;
	bool reached = false;
	int rc = -1;

	cache_forget(dir);
	if (aws_status(ctx, dir, &st, err) < 0)
		return -1;
	if (st.state != UNIK_STATE_RUNNING && st.state != UNIK_STATE_PENDING)
		return 0; /* ended already, and keeps the state it ended with */
	if (load_instance(dir, &kv, err) < 0)
		return -1;
	iid = unik_kv_find(&kv, "ec2_instance");
	if (!iid)
		return 0;
	if (dir_write(dir, AWS_STOPPED_FILE, "stopped on request\n", err) < 0 ||
	    instance_config(&kv, &c, err) < 0)
		return -1;
	if (!force) {
		if (aws_ec2_stop_instance(&c, iid, false, err) < 0 ||
		    wait_state(&c, iid, "stopped", "terminated", timeout_ms, &reached, err) < 0)
			goto out;
	}
	if (!reached && aws_ec2_stop_instance(&c, iid, true, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		unik_error_prefix(err, "aws: stop %s", iid);
	cache_forget(dir);
	aws_config_free(&c);
	return rc;
}

static int aws_start(void *ctx, const char *dir, struct unik_instance_status *st,
                     struct unik_error *err)
{
	(void)ctx;
	static const char *const stale[] = {AWS_STOPPED_FILE, AWS_FINAL_FILE, AWS_ENDED_FILE,
	                                    AWS_AUTOSTOP_FILE, AWS_CONSOLE_SNAP_FILE};
	_cleanup_kv_ struct unik_kv kv = {0};
	struct aws_config c = {0};
	const char *iid;
	bool reached = false;
	int rc = -1;

	memset(st, 0, sizeof(*st));
	st->exit_code = -1;
	if (load_instance(dir, &kv, err) < 0)
		return -1;
	if (!(iid = unik_kv_find(&kv, "ec2_instance"))) {
		unik_error_set(err, UNIK_E_STATE, "aws: nothing was started in `%s`", dir);
		return -1;
	}
	if (instance_config(&kv, &c, err) < 0)
		return -1;
	/* An instance that just ended may still be stopping; EC2 starts only stopped ones. */
	if (wait_state(&c, iid, "stopped", "terminated", STOPPED_LIMIT_MS, &reached, err) < 0)
		goto out;
	if (aws_ec2_start_instance(&c, iid, err) < 0)
		goto out;
	/* EC2's console starts afresh with the new boot. */
	if (mark_console_start(dir, err) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
		if (dir_unlink(dir, stale[i], err) < 0)
			goto out;
	cache_forget(dir);
	st->state = UNIK_STATE_PENDING;
	fill_handles(&kv, st);
	rc = 0;
out:
	if (rc < 0)
		unik_error_prefix(err, "aws: start %s", iid);
	aws_config_free(&c);
	return rc;
}

/* Takes away the ingress rules the run added (provider.state's ingress=); a second remove after
 * a failure tries again. */
static int revoke_recorded(const struct unik_kv *kv, const struct aws_config *c,
                           struct unik_error *err)
{
	const char *group = unik_kv_find(kv, "security_group");
	const char *text = unik_kv_find(kv, "ingress");
	_cleanup_strv_ struct strv rules = {0};
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;

	if (!group || !*group || !text || !*text)
		return 0;
	copy = xstrdup(text);
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
		strv_push(&rules, w);
	return ingress(c, false, group, &rules, NULL, NULL, err);
}

static int aws_remove(void *ctx, const char *dir, struct unik_error *err)
{
	(void)ctx;
	_cleanup_kv_ struct unik_kv kv = {0};
	struct unik_instance_status st;
	struct aws_config c = {0};
	const char *iid;
	int rc = 0;

	cache_forget(dir);
	if (load_instance(dir, &kv, err) < 0)
		return -1;
	iid = unik_kv_find(&kv, "ec2_instance");
	/* A run that died while importing its volumes recorded snapshots and no instance. */
	if (!iid && !unik_kv_find(&kv, "volumes"))
		return 0;
	if (iid && aws_status(ctx, dir, &st, err) < 0)
		return -1;
	if (iid && (st.state == UNIK_STATE_RUNNING || st.state == UNIK_STATE_PENDING)) {
		unik_error_set(err, UNIK_E_STATE, "aws: the instance %s is running; stop it first",
		               iid);
		return -1;
	}
	if (instance_config(&kv, &c, err) < 0)
		return -1;
	/* The EBS volumes first, while the instance they hang on still exists: detached from a
	 * stopped instance, then deleted with their snapshots (their data is not copied back to
	 * the host's volume; docs/providers/aws.md). */
	if (volumes_release(&c, dir, &kv, false, err) < 0) {
		rc = -1;
	} else if (iid && aws_ec2_terminate_instance(&c, iid, err) < 0 &&
	           !aws_ec2_error_is(err, ".NotFound")) {
		unik_error_prefix(err, "aws: terminate");
		rc = -1;
	} else if (iid) {
		unik_error_clear(err);
		dir_write(dir, "terminated", iid, NULL);
		rc = revoke_recorded(&kv, &c, err);
	}
	cache_forget(dir);
	aws_config_free(&c);
	return rc;
}

const struct unik_provider unik_provider_aws = {
    .name = "aws",
    .description = "Amazon EC2: images become AMIs (S3 + ImportSnapshot), instances EC2 "
                   "instances",
    .image_format = "raw",
    .opt_keys = aws_opt_keys,
    .opt_help = aws_opt_help,
    /* A NIC is the instance's primary network interface, a volume an EBS volume made from a
     * snapshot of its disk.  Host shares need a local hypervisor. */
    .caps = UNIK_DEVICE_BIT(UNIK_DEVICE_NET) | UNIK_DEVICE_BIT(UNIK_DEVICE_BLK),
    .user_net = true,
    .available = aws_available,
    .run = aws_run,
    .status = aws_status,
    .stop = aws_stop,
    .remove = aws_remove,
    .start = aws_start,
    .stage = aws_stage,
    .unstage = aws_unstage,
};
