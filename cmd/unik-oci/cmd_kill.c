/* kill: a signal to a unikernel container's process (unik-shim), which stops the VM (or, with
 * SIGKILL, dies and takes QEMU with it). */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "cmd/unik-oci/oci.h"

static const char usage[] =
    "usage: unik-oci kill [--all] ID [SIGNAL]\n\n"
    "Sends SIGNAL (default SIGTERM; a name, SIGNAME or number) to the container's\n"
    "process.  SIGTERM, SIGINT, SIGHUP and SIGQUIT stop the VM (exit status 128 + signal);\n"
    "SIGKILL ends it at once.  --all signals QEMU as well.\n";

int cmd_kill(int argc, char **argv)
{
	const char *all = NULL;
	const struct oci_opt opts[] = {{"all", 'a', false, &all}, {NULL, 0, false, NULL}};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int lockfd = -1;
	struct oci_state st;
	struct unik_error err;
	int sig = SIGTERM, rc = 1;

	if (oci_parse_opts(argc, argv, opts, usage, &pos) < 0)
		return 1;
	if (pos.n < 1 || pos.n > 2) {
		unik_error_set(&err, UNIK_E_INVALID, "kill: expected a container id and a signal");
		return oci_fail(&err);
	}
	if (!oci_is_unik_container(pos.v[0]) && oci_runc_path()) {
		oci_delegate(&err);
		return oci_fail(&err);
	}
	if (pos.n == 2 && (sig = oci_parse_signal(pos.v[1])) < 0) {
		unik_error_set(&err, UNIK_E_INVALID, "kill: unknown signal \"%s\"", pos.v[1]);
		return oci_fail(&err);
	}
	if (oci_container_open(pos.v[0], false, &dir, &lockfd, &st, &err) < 0)
		return oci_fail(&err);
	/* containerd and docker recognise these words and treat the kill as done. */
	if (!strcmp(oci_container_status(dir, &st), "stopped")) {
		unik_error_set(&err, UNIK_E_STATE, "container not running");
		goto out;
	}
	if (oci_signal_proc(st.pid, st.pid_start, sig) < 0) {
		if (errno == ESRCH)
			unik_error_set(&err, UNIK_E_STATE, "container not running");
		else
			unik_error_sys(&err, errno, "kill %d", (int)st.pid);
		goto out;
	}
	if (all) {
		struct unik_vm vm;

		if (oci_container_vm(&vm, NULL) == 0) {
			oci_signal_vm(&vm, dir, sig);
			unik_vm_close(&vm);
		}
	}
	rc = 0;
out:
	oci_state_free(&st);
	return rc ? oci_fail(&err) : 0;
}
