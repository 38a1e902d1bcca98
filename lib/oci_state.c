/* The per-container record of unik-oci and the OCI state document. */
#include "lib/oci_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/util.h"

void oci_state_free(struct oci_state *s)
{
	free(s->id);
	free(s->oci_version);
	free(s->bundle);
	free(s->rootfs);
	free(s->created);
	free(s->owner);
	free(s->kernel);
	free(s->cmdline);
	free(s->accel);
	json_decref(s->annotations);
	memset(s, 0, sizeof(*s));
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

char *oci_state_dump(const struct oci_state *s)
{
	char start[32];
	json_t *j;
	char *text;

	/* The start time is an unsigned 64-bit tick count: kept as a decimal string so that no JSON
	 * reader rounds it. */
	snprintf(start, sizeof(start), "%llu", s->pid_start);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:b, s:o}",
	              "id", nz(s->id), "ociVersion", nz(s->oci_version), "bundle", nz(s->bundle),
	              "rootfs", nz(s->rootfs), "created", nz(s->created), "owner", nz(s->owner),
	              "pid", (json_int_t)s->pid, "pidStart", start, "kernel", nz(s->kernel),
	              "cmdline", nz(s->cmdline), "accel", nz(s->accel), "memoryMiB",
	              (json_int_t)s->memory_mb, "terminal", (int)s->terminal, "annotations",
	              s->annotations ? json_incref(s->annotations) : json_object());
	if (!j)
		abort();
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (!text)
		abort();
	return text;
}

static int get_str(json_t *j, const char *key, char **out, struct unik_error *err)
{
	json_t *v = json_object_get(j, key);

	if (!json_is_string(v)) {
		unik_error_set(err, UNIK_E_INVALID, "container state: \"%s\" must be a string",
		               key);
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

int oci_state_parse(const char *text, size_t len, struct oci_state *out, struct unik_error *err)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, len, 0, &jerr);
	json_t *v;
	char *end;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j)) {
		unik_error_set(err, UNIK_E_INVALID, "container state: not a JSON object%s%s",
		               j ? "" : ": ", j ? "" : jerr.text);
		goto out;
	}
	if (get_str(j, "id", &out->id, err) < 0 ||
	    get_str(j, "ociVersion", &out->oci_version, err) < 0 ||
	    get_str(j, "bundle", &out->bundle, err) < 0 ||
	    get_str(j, "rootfs", &out->rootfs, err) < 0 ||
	    get_str(j, "created", &out->created, err) < 0 ||
	    get_str(j, "owner", &out->owner, err) < 0 ||
	    get_str(j, "kernel", &out->kernel, err) < 0 ||
	    get_str(j, "cmdline", &out->cmdline, err) < 0 ||
	    get_str(j, "accel", &out->accel, err) < 0)
		goto out;
	v = json_object_get(j, "pid");
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
		unik_error_set(err, UNIK_E_INVALID, "container state: \"pid\" must be a PID");
		goto out;
	}
	out->pid = (pid_t)json_integer_value(v);
	v = json_object_get(j, "pidStart");
	if (!json_is_string(v) || !json_string_value(v)[0]) {
		unik_error_set(err, UNIK_E_INVALID, "container state: \"pidStart\" is missing");
		goto out;
	}
	out->pid_start = strtoull(json_string_value(v), &end, 10);
	if (*end) {
		unik_error_set(err, UNIK_E_INVALID,
		               "container state: \"pidStart\" is not a number");
		goto out;
	}
	v = json_object_get(j, "memoryMiB");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "container state: \"memoryMiB\" must be a number");
		goto out;
	}
	out->memory_mb = (uint64_t)json_integer_value(v);
	out->terminal = json_is_true(json_object_get(j, "terminal"));
	v = json_object_get(j, "annotations");
	out->annotations = json_is_object(v) ? json_incref(v) : json_object();
	rc = 0;
out:
	json_decref(j);
	return rc;
}

json_t *oci_state_public(const struct oci_state *s, const char *status)
{
	json_t *j = json_object();

	json_object_set_new(j, "ociVersion", json_string(nz(s->oci_version)));
	json_object_set_new(j, "id", json_string(nz(s->id)));
	json_object_set_new(j, "pid",
	                    json_integer(strcmp(status, "stopped") ? (json_int_t)s->pid : 0));
	json_object_set_new(j, "status", json_string(status));
	json_object_set_new(j, "bundle", json_string(nz(s->bundle)));
	json_object_set_new(j, "rootfs", json_string(nz(s->rootfs)));
	json_object_set_new(j, "created", json_string(nz(s->created)));
	json_object_set_new(j, "owner", json_string(nz(s->owner)));
	if (s->annotations && json_object_size(s->annotations))
		json_object_set(j, "annotations", s->annotations);
	return j;
}
