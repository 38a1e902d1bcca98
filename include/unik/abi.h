/* The guest ABI: the numbers and names that an image and whoever boots it agree on.
 * Shared by runtime/ (the guest) and host code; documented in docs/guest-abi.md. */
#ifndef UNIK_ABI_H
#define UNIK_ABI_H

/* The version this runtime speaks, carried in the image's ELF note.  2 added the device
 * manifest (include/unik/devices.h).  Hosts accept images from UNIK_ABI_VERSION_MIN up, and
 * give devices only to those of UNIK_ABI_VERSION_DEVICES or later: an older runtime would take
 * the first manifest word for argv[0]. */
#define UNIK_ABI_VERSION         2
#define UNIK_ABI_VERSION_MIN     1
#define UNIK_ABI_VERSION_DEVICES 2

/* Physical (and virtual) address the kernel ELF is linked and loaded at. */
#define UNIK_LOAD_ADDR 0x100000

/* ELF note that marks a unik kernel: name "unik", type UNIK_NOTE_ABI, 4-byte descriptor holding
 * UNIK_ABI_VERSION.  Hosts use it to tell a unikernel from any other ELF. */
#define UNIK_NOTE_NAME "unik"
#define UNIK_NOTE_ABI  1
/* A second note, type UNIK_NOTE_DEVICES, 4-byte descriptor: the kinds of device the image can
 * use, UNIK_DEV_BIT(kind) each (include/unik/devices.h); an image may carry several (the host
 * ORs them).  The runtime's network variant says net, so a host gives an image that links
 * sockets a NIC by default, and one that cannot use it none. */
#define UNIK_NOTE_DEVICES 2
/* A third, type UNIK_NOTE_APP_DEVICES, in a device application (the mirage backend,
 * docs/backends/mirage.md): the devices it declares, as "KIND:NAME" words ("net:service",
 * "blk:storage"), each NUL-terminated.  A host binds each to a backing by name before boot, and
 * refuses a run that leaves one unbound or binds one it does not declare. */
#define UNIK_NOTE_APP_DEVICES 3
/* A fourth, type UNIK_NOTE_HVT, in a kernel built for the hvt target (runtime/hvt, unik-hvt):
 * 4-byte descriptor holding UNIK_HVT_VERSION (include/unik/hvt.h).  It tells an hvt kernel from
 * a unix-target executable, as neither has the PVH note. */
#define UNIK_NOTE_HVT 4

/* Xen's PVH entry note, read by QEMU, Xen, Firecracker and Cloud Hypervisor. */
#define UNIK_XEN_ELFNOTE_PHYS32_ENTRY 18

/* Sections unik-cc fills at link time.  The command line is an env(1)-style string (see
 * docs/guest-abi.md); the root fs is a newc cpio archive. */
#define UNIK_SECTION_CMDLINE ".unik.cmdline"
#define UNIK_SECTION_ROOTFS  ".unik.rootfs"

/* Console: COM1. */
#define UNIK_COM1_PORT 0x3f8

/* Exit: the last console line, then the status is written to isa-debug-exit. */
#define UNIK_DEBUG_EXIT_PORT    0xf4
#define UNIK_CONSOLE_PREFIX     "unik: "
#define UNIK_EXIT_LINE_PREFIX   "unik: exit status "
#define UNIK_CRASH_LINE_PREFIX  "unik: crash: "
#define UNIK_UNSUPPORTED_PREFIX "unik: unsupported syscall "

/* A CPU fault, abort() or a fatal signal ends the guest with this status. */
#define UNIK_EXIT_CRASH 255

/* Memory: RAM must reach from the load address past the kernel's end (its .bss included) by at
 * least UNIK_MIN_FREE_KB for the runtime to start; a guest given less says so and ends with
 * status 255.  A host refuses less than UNIK_MIN_MEMORY_MB (hello needs 1.3 MiB). */
#define UNIK_MIN_FREE_KB   64
#define UNIK_MIN_MEMORY_MB 2

/* isa-debug-exit makes QEMU exit with (value << 1) | 1.  Statuses N and N + 128 give the same
 * QEMU exit code, so the console's exit line is authoritative and this is only the fallback. */
#define UNIK_QEMU_EXIT_CODE(status) ((((status)&0xff) << 1 | 1) & 0xff)

#endif
