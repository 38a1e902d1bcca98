/* unik volume create|ls|inspect|rm|export|attach|detach, `unik volumes`, and UniK's spellings
 * (create-volume, delete-volume, attach-volume, detach-volume): volumes are ext2 disks the daemon
 * keeps, which instances mount where `unik run -v NAME:/path` says. */
#include <stdio.h>
#include <string.h>

#include "cmd/unik/cli.h"
#include "lib/tarpack.h"

/* "web (/data), db (/var/db, ro)" for a volume's attachments. */
static const char *fmt_attached(const json_t *row, const char *field, char *buf, size_t len)
{
	const json_t *a = json_object_get(row, field), *e;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(a, i, e)
	{
		int w = snprintf(buf + used, len - used, "%s%s (%s%s)", used ? ", " : "",
		                 json_string_value(json_object_get(e, "instance")),
		                 json_string_value(json_object_get(e, "at")),
		                 json_is_true(json_object_get(e, "readonly")) ? ", ro" : "");

		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	return buf;
}

static const struct cli_column volume_cols[] = {
    {"NAME", "name", NULL},
    {"ID", "id", NULL},
    {"SIZE (MB)", "size_mb", NULL},
    {"TYPE", "type", NULL},
    {"ATTACHED", "attached", fmt_attached},
    {"CREATED", "created", cli_fmt_age},
};

int cmd_volumes(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik volumes [options]\n       unik volume ls [options]",
	    "Lists volumes: name, id, size, type and the instances they are attached to (with\n"
	    "where each mounts it).",
	    "  unik volumes\n"
	    "  unik volume ls -o json\n",
	};
	return cli_list_verb(cli, argc, argv, &help, "/v1/volumes", volume_cols,
	                     sizeof(volume_cols) / sizeof(volume_cols[0]));
}

static void data_skipped(void *ctx, const char *path, const char *reason)
{
	(void)ctx;
	fprintf(stderr, "unik: leaving out %s: %s\n", path, reason);
}

static int volume_create_common(struct cli *cli, const char *name, const char *size,
                                const char *from, const char *type)
{
	json_t *opts = json_pack("{s:s}", "name", name), *resp = NULL;
	struct unik_client *c = cli_client(cli);
	struct unik_error err = {0};
	int r;

	if (!c) {
		json_decref(opts);
		return CLI_FAILED;
	}
	if (size) {
		long mb = cli_parse_mem(size);

		if (mb < 1) {
			json_decref(opts);
			return cli_usage_error(
			    cli, "--size `%s`: want a size in MB such as 64 or 1G", size);
		}
		json_object_set_new(opts, "size_mb", json_integer(mb));
	}
	if (type)
		json_object_set_new(opts, "type", json_string(type));
	if (from) {
		_cleanup_free_ char *tar = NULL, *text = json_dumps(opts, JSON_COMPACT);
		struct unik_tarpack_opts topts = {.warn = data_skipped, .no_ignore_file = true};
		size_t len = 0;
		struct unik_client_part parts[] = {
		    {"options", NULL, "application/json", text, strlen(text)},
		    {"tarfile", "data.tar.gz", "application/gzip", NULL, 0},
		};

		if (unik_tarpack(from, &topts, &tar, &len, NULL, &err) < 0) {
			json_decref(opts);
			return cli_fail(&err);
		}
		parts[1].data = tar;
		parts[1].len = len;
		r = unik_client_upload(c, "/v1/volumes", parts, 2, NULL, NULL, &resp, &err);
	} else {
		r = unik_client_json(c, "POST", "/v1/volumes", opts, &resp, &err);
	}
	json_decref(opts);
	if (r < 0)
		return cli_fail(&err);
	if (cli->json)
		cli_print_json(resp);
	else
		printf("%s\n", json_string_value(json_object_get(resp, "name")));
	json_decref(resp);
	return CLI_OK;
}

static int volume_create(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik volume create [options] NAME",
	    "Makes a volume: an ext2 disk the daemon keeps, made with e2fsprogs' mke2fs.  With\n"
	    "--from DIR, DIR's files (packed here and sent) are its contents, and the size is\n"
	    "what they need, half as much again and 8 MB, unless --size says more.  Without,\n"
	    "an empty file system of --size MB (default 64).  Instances mount it where\n"
	    "`unik run -v NAME:/path[:ro]` says; it outlives them.",
	    "  unik volume create --size 256 data\n"
	    "  unik volume create --from ./site web-content\n",
	};
	const char *size = NULL, *from = NULL, *type = NULL, *name = NULL;
	const struct cli_opt opts[] = {
	    {0, "size", CLI_OPT_STR, &size, "MB", "the disk's size (64, 1G)"},
	    {0, "from|data", CLI_OPT_STR, &from, "DIR", "fill it with this directory's files"},
	    {0, "type", CLI_OPT_STR, &type, "ext2", "the file system (ext2, the only one)"},
	    {0, "name", CLI_OPT_STR, &name, "NAME", "the volume's name (or the word)"},
	};
	_cleanup_strv_ struct strv pos = {0};
	int rc;

	if (cli_parse(cli, argc, argv, opts, 4, 0, &help, &pos, &rc))
		return rc;
	if ((rc = cli_one_name(cli, &pos, &name, "unik volume create NAME")))
		return rc;
	return volume_create_common(cli, name, size, from, type);
}

/* UniK's `create-volume --name N --data DIR | --size MB [--type ext2] [--raw]`. */
int cmd_create_volume(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik create-volume --name NAME (--data DIR | --size MB) [--type ext2] [--raw]",
	    "UniK's spelling of `unik volume create`.  --raw is accepted: unik's volumes are\n"
	    "always raw ext2 disks without a partition table.",
	    "  unik create-volume --name data --size 128\n",
	};
	const char *size = NULL, *from = NULL, *type = NULL, *name = NULL;
	bool raw = false;
	const struct cli_opt opts[] = {
	    {0, "name", CLI_OPT_STR, &name, "NAME", "the volume's name"},
	    {0, "data|from", CLI_OPT_STR, &from, "DIR", "fill it with this directory's files"},
	    {0, "size", CLI_OPT_STR, &size, "MB", "the disk's size"},
	    {0, "type", CLI_OPT_STR, &type, "ext2", "the file system"},
	    {0, "raw", CLI_OPT_BOOL, &raw, NULL, "accepted; volumes are always raw"},
	};
	_cleanup_strv_ struct strv pos = {0};
	int rc;

	if (cli_parse(cli, argc, argv, opts, 5, 0, &help, &pos, &rc))
		return rc;
	if (!name && pos.n == 1)
		name = pos.v[0];
	else if (pos.n)
		return cli_usage_error(cli, "unexpected `%s`", pos.v[pos.n - 1]);
	if (!name)
		return cli_usage_error(cli, "which name? (--name NAME)");
	if (!from && !size)
		return cli_usage_error(cli, "give --data DIR or --size MB");
	return volume_create_common(cli, name, size, from, type);
}

static int volume_rm_common(struct cli *cli, struct strv *refs, bool force)
{
	return cli_each_ref(cli, refs, "DELETE", "/v1/volumes/%s", force ? "?force=true" : "");
}

static int volume_rm(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik volume rm [options] VOLUME...",
	    "Removes volumes and their disks.  A volume an instance mounts is refused; with -f\n"
	    "it is taken out of ended instances first, but a running instance's never is.\n"
	    "Removing an instance never removes its volumes.",
	    "  unik volume rm data\n"
	    "  unik volume rm -f data\n",
	};
	bool force = false;
	const struct cli_opt opts[] = {
	    {'f', "force", CLI_OPT_BOOL, &force, NULL, "detach it from ended instances first"},
	};
	_cleanup_strv_ struct strv refs = {0};
	int rc;

	if (cli_parse(cli, argc, argv, opts, 1, 0, &help, &refs, &rc))
		return rc;
	if (!refs.n)
		return cli_usage_error(cli, "which volume? (unik volume rm VOLUME...)");
	return volume_rm_common(cli, &refs, force);
}

/* UniK's `delete-volume --volume NAME [--force]`. */
int cmd_delete_volume(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik delete-volume --volume VOLUME [--force]",
	    "UniK's spelling of `unik volume rm`.",
	    "  unik delete-volume --volume data\n",
	};
	const char *vol = NULL;
	bool force = false;
	const struct cli_opt opts[] = {
	    {0, "volume|name", CLI_OPT_STR, &vol, "VOLUME", "the volume"},
	    {'f', "force", CLI_OPT_BOOL, &force, NULL, "detach it from ended instances first"},
	};
	_cleanup_strv_ struct strv refs = {0};
	int rc;

	if (cli_parse(cli, argc, argv, opts, 2, 0, &help, &refs, &rc))
		return rc;
	if (vol)
		strv_push(&refs, vol);
	if (!refs.n)
		return cli_usage_error(cli, "which volume? (--volume VOLUME)");
	return volume_rm_common(cli, &refs, force);
}

static int volume_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik volume inspect [options] VOLUME",
	    "Shows one volume and the instances it is attached to.",
	    "  unik volume inspect data -o json\n",
	};
	return cli_describe_verb(cli, argc, argv, &help, "volume", "volume", "/v1/volumes");
}

static int volume_export(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik volume export [options] VOLUME -o FILE",
	    "Writes the volume's disk (a raw ext2 image, which e2fsck, debugfs and mount -o loop\n"
	    "read) to FILE, or to stdout with -o -.  Refused while a running instance mounts it\n"
	    "read-write, since the copy would not be consistent.",
	    "  unik volume export data -o data.ext2\n",
	};
	const char *file = NULL;
	const struct cli_opt opts[] = {
	    {'o', "output-file", CLI_OPT_STR, &file, "FILE", "where to write it (- for stdout)"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *path = NULL, *esc = NULL;
	json_t *v;
	uint64_t total, written = 0;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 1, 0, &help, &pos, &rc))
		return rc;
	if (pos.n != 1)
		return cli_usage_error(cli, "which volume? (unik volume export VOLUME -o FILE)");
	if (!file)
		return cli_usage_error(cli, "where to? (-o FILE, or -o - for stdout)");
	esc = unik_client_escape(pos.v[0]);
	path = xasprintf("/v1/volumes/%s", esc);
	if (!(v = cli_request(cli, "GET", path, NULL)))
		return CLI_FAILED;
	total = (uint64_t)json_integer_value(json_object_get(v, "size_mb")) << 20;
	json_decref(v);
	free(path);
	path = xasprintf("/v1/volumes/%s/disk", esc);
	cli_catch_signals();
	if (cli_download(cli, path, strcmp(file, "-") == 0 ? NULL : file, total, "exporting",
	                 &written) < 0)
		return cli_interrupted ? 130 : CLI_FAILED;
	if (strcmp(file, "-") != 0 && !cli->json)
		printf("exported %s (%llu MB) to %s\n", pos.v[0],
		       (unsigned long long)(written >> 20), file);
	return CLI_OK;
}

static int attach_common(struct cli *cli, const char *vol, const char *inst, const char *at,
                         bool ro)
{
	_cleanup_free_ char *esc = unik_client_escape(vol);
	_cleanup_free_ char *path = xasprintf("/v1/volumes/%s/attach", esc);
	json_t *body = json_pack("{s:s, s:s, s:b}", "instance", inst, "at", at, "readonly", ro);
	json_t *j = cli_request(cli, "POST", path, body);

	json_decref(body);
	if (!j)
		return CLI_FAILED;
	json_decref(j);
	if (!cli->json)
		printf("%s\n", vol);
	return CLI_OK;
}

/* `unik volume attach VOLUME INSTANCE /path [--ro]` and UniK's `attach-volume --volume V
 * --instanceId I --mountPoint /path`. */
static int volume_attach(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik volume attach [options] VOLUME INSTANCE /PATH\n"
	    "       unik attach-volume --volume VOLUME --instanceId INSTANCE --mountPoint /PATH",
	    "Attaches a volume to an instance that is not running, for its next start (`unik\n"
	    "start`), mounted at /PATH.  To mount volumes from the first boot, give them to\n"
	    "`unik run -v VOLUME:/PATH`.",
	    "  unik volume attach data web /var/data\n"
	    "  unik attach-volume --volume data --instanceId web --mountPoint /var/data\n",
	};
	const char *vol = NULL, *inst = NULL, *at = NULL;
	bool ro = false;
	const struct cli_opt opts[] = {
	    {0, "volume", CLI_OPT_STR, &vol, "VOLUME", "the volume"},
	    {0, "instanceId|instance", CLI_OPT_STR, &inst, "INSTANCE", "the instance"},
	    {0, "mountPoint|at", CLI_OPT_STR, &at, "/PATH", "where the guest mounts it"},
	    {0, "ro|readonly", CLI_OPT_BOOL, &ro, NULL, "read-only"},
	};
	_cleanup_strv_ struct strv pos = {0};
	size_t k = 0;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 4, 0, &help, &pos, &rc))
		return rc;
	if (!vol && k < pos.n)
		vol = pos.v[k++];
	if (!inst && k < pos.n)
		inst = pos.v[k++];
	if (!at && k < pos.n)
		at = pos.v[k++];
	if (k < pos.n)
		return cli_usage_error(cli, "unexpected `%s`", pos.v[k]);
	if (!vol || !inst || !at)
		return cli_usage_error(cli, "want VOLUME INSTANCE /PATH");
	return attach_common(cli, vol, inst, at, ro);
}

static int volume_detach(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik volume detach [options] VOLUME\n       unik detach-volume --volume VOLUME",
	    "Takes a volume out of the (not running) instances it is attached to.",
	    "  unik volume detach data\n",
	};
	const char *vol = NULL;
	const struct cli_opt opts[] = {
	    {0, "volume", CLI_OPT_STR, &vol, "VOLUME", "the volume"},
	};
	_cleanup_strv_ struct strv refs = {0};
	int rc;

	if (cli_parse(cli, argc, argv, opts, 1, 0, &help, &refs, &rc))
		return rc;
	if (vol)
		strv_push(&refs, vol);
	if (!refs.n)
		return cli_usage_error(cli, "which volume? (unik volume detach VOLUME)");
	return cli_each_ref(cli, &refs, "POST", "/v1/volumes/%s/detach", "");
}

int cmd_attach_volume(struct cli *cli, int argc, char **argv)
{
	return volume_attach(cli, argc, argv);
}

int cmd_detach_volume(struct cli *cli, int argc, char **argv)
{
	return volume_detach(cli, argc, argv);
}

static const struct cli_subverb volume_subverbs[] = {
    {"create", NULL, volume_create, "make a volume (empty, or from a directory)"},
    {"ls", "list", cmd_volumes, "list volumes"},
    {"inspect", NULL, volume_inspect, "show one volume"},
    {"rm", "remove", volume_rm, "remove volumes"},
    {"export", NULL, volume_export, "write a volume's disk to a file"},
    {"attach", NULL, volume_attach, "attach a volume to a stopped instance"},
    {"detach", NULL, volume_detach, "take a volume out of stopped instances"},
    {NULL, NULL, NULL, NULL},
};

int cmd_volume(struct cli *cli, int argc, char **argv)
{
	return cli_subverb(cli, argc, argv, "volume",
	                   "Manages volumes: ext2 disks that outlive instances, mounted where\n"
	                   "`unik run -v VOLUME:/path` says.",
	                   volume_subverbs);
}
