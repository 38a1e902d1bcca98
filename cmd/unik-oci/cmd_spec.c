/* spec: writes a default config.json, one runc accepts too, whose process is a kernel at
 * /kernel in the root fs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/unik-oci/oci.h"

static const char usage[] =
    "usage: unik-oci spec [--bundle DIR] [--rootless]\n\n"
    "Writes a default config.json into the bundle (default: the current directory).\n";

static const char default_spec[] =
    "{\n"
    "  \"ociVersion\": \"" OCI_SPEC_VERSION "\",\n"
    "  \"process\": {\n"
    "    \"terminal\": false,\n"
    "    \"user\": {\"uid\": 0, \"gid\": 0},\n"
    "    \"args\": [\"/kernel\"],\n"
    "    \"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\n"
    "    \"cwd\": \"/\",\n"
    "    \"capabilities\": {\n"
    "      \"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "      \"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "      \"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"]\n"
    "    },\n"
    "    \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],\n"
    "    \"noNewPrivileges\": true\n"
    "  },\n"
    "  \"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
    "  \"hostname\": \"unik\",\n"
    "  \"mounts\": [\n"
    "    {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
    "    {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
    "     \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]}\n"
    "  ],\n"
    "  \"annotations\": {},\n"
    "  \"linux\": {\n"
    "    \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},\n"
    "    \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\"}, {\"type\": \"ipc\"},\n"
    "                   {\"type\": \"uts\"}, {\"type\": \"mount\"}],\n"
    "    \"maskedPaths\": [\"/proc/kcore\", \"/proc/keys\", \"/proc/timer_list\"],\n"
    "    \"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\"]\n"
    "  }\n"
    "}\n";

int cmd_spec(int argc, char **argv)
{
	const char *bundle = NULL, *rootless = NULL;
	const struct oci_opt opts[] = {{"bundle", 'b', true, &bundle},
	                               {"rootless", 0, false, &rootless},
	                               {NULL, 0, false, NULL}};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	struct unik_error err;

	if (oci_parse_opts(argc, argv, opts, usage, &pos) < 0)
		return 1;
	path = unik_path_join(bundle ? bundle : ".", "config.json");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			unik_error_set(&err, UNIK_E_EXISTS, "File %s exists. Remove it first",
			               path);
		else
			unik_error_sys(&err, errno, "create `%s`", path);
		return oci_fail(&err);
	}
	if (unik_write_all(fd, default_spec, strlen(default_spec)) < 0) {
		unik_error_sys(&err, errno, "write `%s`", path);
		return oci_fail(&err);
	}
	return 0;
}
