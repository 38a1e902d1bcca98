/* The ABI between unik-hvt, unik's own KVM monitor (cmd/unik-hvt), and a kernel built for it
 * (unik-cc --unik-app --unik-target hvt, runtime/hvt): the boot information the monitor hands
 * the guest, and the hypercalls.  docs/backends/mirage.md describes them.
 *
 * The monitor loads the kernel's PT_LOAD segments at their physical addresses, maps all guest
 * memory 1:1 (2 MiB pages; 4 KiB ones in the first 2 MiB, where page 0 is left unmapped so that
 * a NULL pointer faults), and enters the ELF entry in 64-bit mode, ring 0, with rdi = the
 * guest-physical address of struct unik_hvt_boot and rsp at the top of memory.  The GDT has
 * ring-0 and ring-3 segments and a TSS; the guest runs its application in ring 3.
 *
 * A hypercall is `outl %eax, %dx` in ring 0 with dx = UNIK_HVT_PORT + the call and eax the
 * guest-physical address of the call's argument struct (guest memory lies below 4 GiB).  The
 * monitor reads and writes the struct in place; the call is done when the instruction
 * completes. */
#ifndef UNIK_HVT_H
#define UNIK_HVT_H

#include <stdint.h>

#define UNIK_HVT_MAGIC   0x3174766b696e75ull /* "unikvt1" */
#define UNIK_HVT_VERSION 1

/* Guest-physical layout the monitor sets up below the kernel (loaded at 1 MiB or above). */
#define UNIK_HVT_GDT       0x1000ull
#define UNIK_HVT_PML4      0x2000ull
#define UNIK_HVT_PDPT      0x3000ull
#define UNIK_HVT_PD        0x4000ull /* 4 pages: 4 GiB in 2 MiB pages */
#define UNIK_HVT_PT        0x8000ull /* the first 2 MiB in 4 KiB pages, page 0 left out */
#define UNIK_HVT_BOOT      0x9000ull /* struct unik_hvt_boot, then the argument strings */
#define UNIK_HVT_BOOT_END  0x80000ull
#define UNIK_HVT_LOAD_MIN  0x100000ull /* the lowest address a segment may load at */
#define UNIK_HVT_MEM_MAX   (4096ull << 20)
#define UNIK_HVT_TSS       0x1080ull /* a 64-bit TSS, whose rsp0 the guest sets */
#define UNIK_HVT_GDT_CODE  0x08      /* ring 0 */
#define UNIK_HVT_GDT_DATA  0x10
#define UNIK_HVT_GDT_UCODE 0x1b /* ring 3, where the application runs */
#define UNIK_HVT_GDT_UDATA 0x23
#define UNIK_HVT_GDT_TSS   0x28

#define UNIK_HVT_DEVICES 16

enum unik_hvt_dev_kind {
	UNIK_HVT_DEV_NET = 1, /* as UNIK_DEV_NET, APPCALL_KIND_NET */
	UNIK_HVT_DEV_BLK = 2, /* as UNIK_DEV_BLK, APPCALL_KIND_BLK */
};

/* A bound device; its index in unik_hvt_boot.devices is its handle in the hypercalls. */
struct unik_hvt_device {
	char name[16]; /* the declared name, NUL-terminated */
	uint32_t kind;
	uint16_t mtu;
	uint8_t mac[6];
	uint8_t readonly;
	uint8_t pad[7];
	uint64_t sectors; /* block: capacity in 512-byte sectors */
	/* net: "IP/PREFIX[,gw=IP]" (the boot line's unik.NAME= word, docs/guest-abi.md) or "" */
	char config[64];
};

struct unik_hvt_boot {
	uint64_t magic;   /* UNIK_HVT_MAGIC */
	uint32_t version; /* UNIK_HVT_VERSION */
	uint32_t ndevices;
	uint64_t mem_size;   /* bytes of guest memory, from 0 */
	uint64_t kernel_end; /* the end of the highest loaded segment (.bss included) */
	/* The arguments after KERNEL on unik-hvt's command line: argc words, argv the address of
	 * argc addresses of NUL-terminated strings.  argc 0: the image's baked command line. */
	uint64_t argc;
	uint64_t argv;
	uint8_t random[16]; /* seeds musl's AT_RANDOM (stack protector) */
	struct unik_hvt_device devices[UNIK_HVT_DEVICES];
	/* The address of a NUL-terminated string to be the application's argv[0] instead of the
	 * image's (unik-hvt --argv0), or 0. */
	uint64_t argv0;
};

/* The I/O port of hypercall N is UNIK_HVT_PORT + N. */
#define UNIK_HVT_PORT 0x500

enum unik_hvt_call {
	UNIK_HVT_CONSOLE = 1, /* struct unik_hvt_console */
	UNIK_HVT_CLOCK,       /* struct unik_hvt_clock */
	UNIK_HVT_NET_WRITE,   /* struct unik_hvt_io */
	UNIK_HVT_NET_READ,    /* struct unik_hvt_io; len in: the buffer's size, out: the frame's */
	UNIK_HVT_BLK_READ,    /* struct unik_hvt_io; len bytes from sector */
	UNIK_HVT_BLK_WRITE,   /* struct unik_hvt_io */
	UNIK_HVT_POLL,        /* struct unik_hvt_poll */
	UNIK_HVT_EXIT,        /* struct unik_hvt_exit: ends the VM */
	UNIK_HVT_CRASH,       /* struct unik_hvt_crash: a CPU exception, ends the VM */
	UNIK_HVT_NCALLS
};

/* Results of a call, in its ret field. */
enum unik_hvt_result {
	UNIK_HVT_OK = 0,
	UNIK_HVT_AGAIN = 1,  /* net read: no frame waiting */
	UNIK_HVT_EINVAL = 2, /* a bad handle, address, size or sector */
	UNIK_HVT_EIO = 3,    /* the host's file or tap failed */
};

struct unik_hvt_console {
	uint64_t data, len;
};

struct unik_hvt_clock {
	uint64_t monotonic; /* out: nanoseconds since the monitor started */
	uint64_t wall;      /* out: nanoseconds since the epoch */
};

struct unik_hvt_io {
	uint64_t handle;
	uint64_t sector; /* block only */
	uint64_t data;   /* guest-physical address of the buffer */
	uint64_t len;
	uint64_t ret;
};

struct unik_hvt_poll {
	uint64_t deadline; /* monotonic nanoseconds */
	uint64_t ready;    /* out: bit h set when net handle h has a frame waiting */
};

struct unik_hvt_exit {
	uint64_t status;
};

struct unik_hvt_crash {
	uint64_t vector, error, rip, cr2;
};

#endif
