/* features: what this runtime supports, in the shape of runc's `features` document. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/unik-oci/oci.h"

static const char usage[] = "usage: unik-oci features\n\nPrints the runtime's features as JSON.\n";

int cmd_features(int argc, char **argv)
{
	_cleanup_strv_ struct strv pos = {0};
	const char *runc = oci_runc_path();
	json_t *j;
	char *t;

	if (oci_parse_opts(argc, argv, NULL, usage, &pos) < 0)
		return 1;
	/* What a unikernel container honours; anything else is runc's to describe. */
	j = json_pack(
	    "{s:s, s:s, s:[], s:[], s:{s:[], s:[], s:{s:b, s:b, s:b, s:b}, s:{s:b}, s:{s:b},"
	    " s:{s:b}}, s:{s:s, s:s, s:s, s:s, s:s, s:s}}",
	    "ociVersionMin", "1.0.0", "ociVersionMax", "1.1.0", "hooks", "mountOptions", "linux",
	    "namespaces", "capabilities", "cgroup", "v1", 0, "v2", 0, "systemd", 0, "systemdUser",
	    0, "seccomp", "enabled", 0, "apparmor", "enabled", 0, "selinux", "enabled", 0,
	    "annotations", "org.unik.oci.version", UNIK_VERSION, "org.unik.oci.monitor", "qemu",
	    "org.unik.oci.kernel-annotation", OCI_ANNOTATION_KERNEL,
	    "org.unik.oci.memory-annotation", OCI_ANNOTATION_MEMORY,
	    "org.unik.oci.default-memory-mib", "64", "org.unik.oci.delegate", runc ? runc : "");
	t = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	printf("%s\n", t ? t : "{}");
	free(t);
	json_decref(j);
	return 0;
}
