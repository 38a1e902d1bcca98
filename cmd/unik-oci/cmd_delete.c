/* delete: removes a stopped container's state; --force ends a live one first (its VM, through
 * the core, and its process). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/unik-oci/oci.h"

static const char usage[] =
    "usage: unik-oci delete [--force] ID\n\n"
    "Deletes a stopped container.  --force kills a created or running one first, QEMU "
    "included.\n";

static void wait_gone(pid_t pid, unsigned long long start, int ms)
{
	for (int i = 0; i < ms / 10 && oci_proc_alive(pid, start); i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int cmd_delete(int argc, char **argv)
{
	const char *force = NULL;
	const struct oci_opt opts[] = {{"force", 'f', false, &force}, {NULL, 0, false, NULL}};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int lockfd = -1;
	struct oci_state st;
	struct unik_error err;
	const char *status;
	struct unik_vm vm = {0};
	struct unik_error stop_err;
	int rc = 1;

	if (oci_parse_opts(argc, argv, opts, usage, &pos) < 0)
		return 1;
	if (pos.n != 1) {
		unik_error_set(&err, UNIK_E_INVALID, "delete: expected one container id");
		return oci_fail(&err);
	}
	if (!oci_is_unik_container(pos.v[0]) && oci_runc_path()) {
		oci_delegate(&err);
		return oci_fail(&err);
	}
	if (oci_container_open(pos.v[0], true, &dir, &lockfd, &st, &err) < 0)
		return oci_fail(&err);
	status = oci_container_status(dir, &st);
	if (strcmp(status, "stopped") && !force) {
		unik_error_set(&err, UNIK_E_STATE,
		               "cannot delete container %s that is not stopped: %s (use --force)",
		               st.id, status);
		goto out;
	}
	if (oci_container_vm(&vm, &err) < 0)
		goto out;
	/* The VM ends through its provider (at once: the container is going), which also ends a
	 * container's process still waiting for start; a process that outlives its VM is
	 * killed.  For a stopped container this finds nothing to do. */
	if (unik_vm_stop(&vm, dir, true, 0, &stop_err) < 0)
		oci_log("warning", "delete %s: %s", st.id, stop_err.msg);
	if (st.pid > 0 && oci_proc_alive(st.pid, st.pid_start)) {
		oci_signal_proc(st.pid, st.pid_start, SIGKILL);
		wait_gone(st.pid, st.pid_start, 5000);
	}
	if (unik_vm_remove(&vm, dir, &err) < 0 || unik_rmtree(dir, &err) < 0)
		goto out;
	rc = 0;
out:
	if (vm.p)
		unik_vm_close(&vm);
	oci_state_free(&st);
	return rc ? oci_fail(&err) : 0;
}
