/* The xen provider's internals, split out so unit tests can reach them: the libxl domain
 * configuration (config.c, pure: no hypervisor needed), the records in the instance directory,
 * the console copier and the libxl context with its captured log (xen.c, console.c). */
#ifndef UNIK_PROVIDER_XEN_H
#define UNIK_PROVIDER_XEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libxl.h>

#include "lib/error.h"
#include "images/xl/xl.h"
#include "providers/provider.h"

extern const struct unik_provider unik_provider_xen;

/* Files in an instance directory (see docs/providers/xen.md). */
#define XEN_STATE_FILE       "provider.state" /* domid, name, uuid, actions */
#define XEN_CONSOLE_FILE     "console.log"
#define XEN_CONSOLE_PID_FILE "console.pid" /* the console copier: "PID START" */
#define XEN_EXIT_FILE        "exit"        /* how the domain ended: reason=..., action=... */
#define XEN_STOPPED_FILE     "stopped"
#define XEN_XLCFG_FILE       "xl.cfg" /* the same guest for `xl create`, for operators */
#define XEN_CORE_FILE        "core"   /* on_crash=coredump-destroy writes it */

/* ---- configuration (config.c) --------------------------------------------------------------- */

/* The domain name of an instance: "unik-NAME-ID", with anything but [A-Za-z0-9_.-] in NAME
 * turned into '-'.  Caller frees. */
char *xen_domain_name(const char *instance_name, const char *instance_id);

/* Fills g from a run spec's options (vcpus, on_crash, disk), leaving the paths, name, cmdline
 * and memory to the caller.  UNIK_E_INVALID names a bad value. */
int xen_guest_options(const char *const *opts, struct unik_xl_guest *g, struct unik_error *err);

/* Builds the libxl_domain_config of a PVH guest from g.  c must have been initialised with
 * libxl_domain_config_init(); on failure too the caller disposes of it.  uuid may be NULL (then
 * libxl makes one at creation).  Needs no libxl_ctx and no hypervisor. */
int xen_build_config(const struct unik_xl_guest *g, const libxl_uuid *uuid, libxl_domain_config *c,
                     struct unik_error *err);

/* Adds the devices (checked, MACs filled in, paths absolute) to c: a vif on the network's
 * bridge per net device, a disk (vdev xvdX after c's disks, access ro or rw, parsed by libxlutil)
 * per blk and a 9pfs share (tag = the device's name) per fs.  UNIK_E_UNSUPPORTED for what Xen
 * cannot do: a NIC without a network (no user-mode stack, no existing taps) and a read-only
 * share. */
int xen_add_devices(const struct unik_device *devs, size_t n, libxl_domain_config *c,
                    struct unik_error *err);

/* The bridge a net device's vif joins: the network's bridge, or the network's name itself for
 * a device that names no bridge. */
const char *xen_nic_bridge(const struct unik_device *d);

/* The xl.cfg line of the net devices' vifs, "vif = [ 'mac=52:54:00:..,bridge=BR', ... ]\n", for
 * the xl.cfg written for operators; NULL when there is no net device.  The devices must have
 * passed xen_add_devices (bridge names and MACs hold no quotes or commas).  Caller frees. */
char *xen_xl_vifs(const struct unik_device *devs, size_t n);

/* libxl's own JSON of c (libxl_domain_config_to_json).  Caller frees. */
char *xen_config_json(libxl_domain_config *c);

/* ---- records (xen.c) ------------------------------------------------------------------------ */

struct xen_state {
	long long domid; /* -1 until the domain exists */
	char name[128];
	char uuid[40];
	char ip[64]; /* the first NIC's address without its prefix, "" when none (DHCP) */
	char on_poweroff[24], on_reboot[24], on_crash[24];
};

int xen_state_read(const char *dir, struct xen_state *s, struct unik_error *err);

/* The status of an instance whose domain has ended, from the records alone: the console's exit
 * line first (docs/guest-abi.md), then a stop request, then the recorded shutdown reason. */
void xen_ended_status(const char *dir, struct unik_instance_status *st);

/* ---- libxl context (xen.c) ------------------------------------------------------------------ */

/* The process's libxl context, made on first use and kept.  NULL when libxl cannot open one
 * here; reason then says libxl's own words and a hint.  A failure is remembered for a few
 * seconds, so repeated calls (`unik providers`) stay fast. */
libxl_ctx *xen_ctx(char *reason, size_t reason_len);

/* What libxl logged (warnings and errors) on this thread since the last xen_log_reset(). */
void xen_log_reset(void);
const char *xen_log_text(void);

/* ---- console (console.c) -------------------------------------------------------------------- */

/* Starts the console copier: a detached process that appends everything the pty at tty_path
 * says to <dir>/console.log until xenconsoled closes it (the domain is gone), and records its
 * PID in <dir>/console.pid. */
int xen_console_start(const char *dir, const char *tty_path, struct unik_error *err);

/* True while the copier recorded in dir runs.  wait_ms > 0 waits up to that long for its end and
 * returns whether it is still running. */
bool xen_console_running(const char *dir, int wait_ms);

/* Ends the copier (SIGKILL), if it still runs. */
void xen_console_kill(const char *dir);

#endif
