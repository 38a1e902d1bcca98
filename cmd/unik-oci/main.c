/* unik-oci: global options, the verb table, logging and the shared option parser. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/unik-oci/oci.h"

#ifndef UNIK_VERSION
#define UNIK_VERSION "0.0.0"
#endif

struct oci_globals oci_g = {.root = OCI_DEFAULT_ROOT};

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct verb verbs[] = {
    {"create", cmd_create, "create a container (the unikernel waits for start)"},
    {"start", cmd_start, "start a created container"},
    {"run", cmd_run, "create and start a container, and wait for it (or --detach)"},
    {"state", cmd_state, "print a container's state as JSON"},
    {"kill", cmd_kill, "send a signal to a container's init process (default SIGTERM)"},
    {"delete", cmd_delete, "delete a stopped container (--force: any container)"},
    {"list", cmd_list, "list containers (--format table|json, --quiet)"},
    {"features", cmd_features, "print what this runtime supports as JSON"},
    {"spec", cmd_spec, "write a default config.json into the bundle"},
    {NULL, NULL, NULL},
};

/* ---- logging ------------------------------------------------------------------------------ */

void oci_log(const char *level, const char *fmt, ...)
{
	va_list ap;
	char msg[2048];
	_cleanup_free_ char *now = NULL;
	_cleanup_free_ char *line = NULL;
	int fd;

	if (!strcmp(level, "debug") && !oci_g.debug)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!oci_g.log_path) {
		fprintf(stderr, "unik-oci: %s%s%s\n", strcmp(level, "error") ? level : "",
		        strcmp(level, "error") ? ": " : "", msg);
		return;
	}
	now = unik_now_rfc3339(9);
	if (oci_g.log_json) {
		json_t *j = json_pack("{s:s, s:s, s:s}", "level", level, "msg", msg, "time", now);
		char *t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

		json_decref(j);
		line = xasprintf("%s\n", t ? t : "{}");
		free(t);
	} else {
		_cleanup_free_ char *q = NULL;
		json_t *s = json_string(msg);

		q = json_dumps(s, JSON_ENCODE_ANY);
		json_decref(s);
		line = xasprintf("time=\"%s\" level=%s msg=%s\n", now, level, q ? q : "\"\"");
	}
	fd = open(oci_g.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "unik-oci: %s\n", msg);
		return;
	}
	if (unik_write_all(fd, line, strlen(line)) < 0)
		fprintf(stderr, "unik-oci: %s\n", msg);
	close(fd);
}

int oci_fail(const struct unik_error *err)
{
	oci_log("error", "%s", err->msg[0] ? err->msg : "failed");
	return 1;
}

/* ---- options ------------------------------------------------------------------------------ */

static const struct oci_opt *find_opt(const struct oci_opt *opts, const char *name, size_t len)
{
	for (const struct oci_opt *o = opts; o && o->name; o++)
		if ((strlen(o->name) == len && !strncmp(o->name, name, len)) ||
		    (len == 1 && o->short_name && o->short_name == name[0]))
			return o;
	return NULL;
}

int oci_parse_opts(int argc, char **argv, const struct oci_opt *opts, const char *usage,
                   struct strv *pos)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *name, *eq;
		const struct oci_opt *o;
		size_t len;

		if (!strcmp(a, "--")) {
			for (i++; i < argc; i++)
				strv_push(pos, argv[i]);
			break;
		}
		if (a[0] != '-' || !a[1]) {
			strv_push(pos, a);
			continue;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			exit(0);
		}
		name = a + (a[1] == '-' ? 2 : 1);
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		o = find_opt(opts, name, len);
		if (!o) {
			struct unik_error err;

			unik_error_set(&err, UNIK_E_INVALID,
			               "%s: unknown option %s (see %s --help)", argv[0], a,
			               argv[0]);
			oci_fail(&err);
			return -1;
		}
		if (!o->has_value) {
			*o->value = "true";
			continue;
		}
		if (eq) {
			*o->value = eq + 1;
		} else if (i + 1 < argc) {
			*o->value = argv[++i];
		} else {
			struct unik_error err;

			unik_error_set(&err, UNIK_E_INVALID, "%s: option %s needs a value", argv[0],
			               a);
			oci_fail(&err);
			return -1;
		}
	}
	return 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs(
	    "usage: unik-oci [--root DIR] [--log FILE] [--log-format text|json] [--debug]\n"
	    "                [--systemd-cgroup] COMMAND [OPTIONS] ID\n\n"
	    "An OCI runtime with runc's command line.  Containers whose process is a unik kernel\n"
	    "(an ELF with the \"unik\" note, or named by the org.unik.kernel annotation) boot "
	    "under\n"
	    "QEMU; every other container is handed to runc unchanged.\n\nCommands:\n",
	    f);
	for (const struct verb *v = verbs; v->name; v++)
		fprintf(f, "  %-10s %s\n", v->name, v->help);
	fputs("\nOther runc commands (exec, ps, pause, resume, update, events, ...) go to runc for "
	      "ordinary\ncontainers; a unikernel does not support them.\n",
	      f);
}

static void version(void)
{
	printf("unik-oci version %s\nspec: %s\n", UNIK_VERSION, OCI_SPEC_VERSION);
}

/* Commands unik-oci does not implement: runc's for its own containers, refused for ours. */
static int other_verb(int argc, char **argv)
{
	struct unik_error err;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] != '-' && oci_is_unik_container(argv[i])) {
			unik_error_set(&err, UNIK_E_UNSUPPORTED,
			               "%s is not supported for unikernel container %s", argv[0],
			               argv[i]);
			return oci_fail(&err);
		}
	}
	if (oci_runc_path()) {
		oci_delegate(&err);
		return oci_fail(&err);
	}
	unik_error_set(&err, UNIK_E_INVALID, "unknown command \"%s\" (see unik-oci --help)",
	               argv[0]);
	return oci_fail(&err);
}

int main(int argc, char **argv)
{
	int i;
	const char *fmt = NULL;

	oci_g.argc = argc;
	oci_g.argv = argv;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *name, *eq;
		const char *val = NULL;
		size_t len;

		if (a[0] != '-')
			break;
		if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
			version();
			return 0;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		name = a + (a[1] == '-' ? 2 : 1);
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
#define IS(n) (len == strlen(n) && !strncmp(name, n, len))
		if (IS("debug") || IS("systemd-cgroup") || IS("no-pivot")) {
			if (IS("debug"))
				oci_g.debug = true;
			continue;
		}
		if (!(IS("root") || IS("log") || IS("log-format") || IS("criu") ||
		      IS("rootless"))) {
			fprintf(stderr,
			        "unik-oci: unknown global option %s (see unik-oci --help)\n", a);
			return 1;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "unik-oci: option %s needs a value\n", a);
			return 1;
		}
		if (IS("root"))
			oci_g.root = val;
		else if (IS("log"))
			oci_g.log_path = val[0] ? val : NULL;
		else if (IS("log-format"))
			fmt = val;
#undef IS
	}
	if (fmt && strcmp(fmt, "text") && strcmp(fmt, "json")) {
		fprintf(stderr, "unik-oci: --log-format must be text or json, not \"%s\"\n", fmt);
		return 1;
	}
	oci_g.log_json = fmt && !strcmp(fmt, "json");
	if (i >= argc) {
		usage(stderr);
		return 1;
	}
	if (oci_g.debug) {
		_cleanup_strv_ struct strv words = {0};
		char *line;

		for (int k = 0; k < argc; k++)
			strv_push(&words, argv[k]);
		line = xstrdup("");
		for (size_t k = 0; k < words.n; k++) {
			char *n = xasprintf("%s%s%s", line, k ? " " : "", words.v[k]);
			free(line);
			line = n;
		}
		oci_log("debug", "argv: %s", line);
		free(line);
	}
	for (const struct verb *v = verbs; v->name; v++)
		if (!strcmp(v->name, argv[i]))
			return v->fn(argc - i, argv + i);
	if (!strcmp(argv[i], "help")) {
		usage(stdout);
		return 0;
	}
	return other_verb(argc - i, argv + i);
}
