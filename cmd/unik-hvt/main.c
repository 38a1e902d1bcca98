/* unik-hvt: unik's own KVM monitor for device applications built with `unik-cc --unik-target hvt`
 * (docs/backends/mirage.md "hvt").  It loads the kernel ELF, binds the devices it declares to
 * taps and files by name, enters it in 64-bit mode and serves its hypercalls
 * (include/unik/hvt.h) with host system calls.  One vCPU, no device emulation. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/unik-hvt/confine.h"
#include "lib/error.h"
#include "lib/guest_elf.h"
#include "lib/hvt.h"
#include "lib/util.h"

#ifndef UNIK_VERSION
#define UNIK_VERSION "unknown"
#endif

#define EXIT_SETUP 1   /* bad usage, or the VM could not be made */
#define EXIT_CRASH 255 /* the guest faulted, or the monitor failed while it ran */
#define MB         (1024ull * 1024)

struct binding {
	const char *spec; /* as given, for messages */
	char *name;
	unsigned kind; /* UNIK_DEV_NET or UNIK_DEV_BLK */
	char *path;    /* tap name or file */
	bool readonly;
	bool has_mac;
	uint8_t mac[6];
	char config[64];
	int fd;
	uint64_t sectors;
};

struct vm {
	uint8_t *mem;
	uint64_t mem_size;
	int kvm, vm, vcpu;
	struct kvm_run *run;
	struct binding *devs[UNIK_HVT_DEVICES];
	unsigned ndevs;
	struct timespec start;
};

/* --console-abi: a failure the monitor sees ends the console (stdout) as a unik guest's does. */
static bool console_abi;

/* Why the monitor ended the guest, when it did (crash()); the guest reported its own fault. */
static char crash_reason[256];
static bool guest_crashed;

/* A fault the monitor saw, on stderr as "unik-hvt: ..." and kept for finish(). */
static __attribute__((format(printf, 1, 2))) void crash(const char *fmt, ...)
{
	va_list ap;
	size_t n;

	fputs("unik-hvt: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vsnprintf(crash_reason, sizeof(crash_reason), fmt, ap);
	va_end(ap);
	n = strlen(crash_reason);
	if (n && crash_reason[n - 1] == '\n')
		crash_reason[n - 1] = '\0';
}

/* The exit status, after the console's last lines under --console-abi: the guest wrote them
 * when it exited, and its crash line when it faulted. */
static int finish(int status)
{
	if (console_abi && crash_reason[0])
		printf("unik: crash: %s\n", crash_reason);
	if (console_abi && (crash_reason[0] || guest_crashed))
		printf("unik: exit status %d\n", status);
	fflush(stdout);
	return status;
}

static void usage(FILE *f)
{
	fputs("Usage: unik-hvt [OPTION]... KERNEL [ARGS...]\n"
	      "\n"
	      "Runs a device application built with `unik-cc --unik-target hvt` under KVM, with\n"
	      "the devices it declares bound by name.  ARGS replace the image's baked arguments\n"
	      "(argv[0] stays).  The exit status is the application's; 255 when the guest\n"
	      "faulted, 1 when it could not start.\n"
	      "\n"
	      "  --net NAME=TAP[,mac=MAC][,ip=IP/PREFIX][,gw=IP]\n"
	      "                        bind the declared net device NAME to the tap TAP (made\n"
	      "                        beforehand: ip tuntap add TAP mode tap); ip= and gw= are\n"
	      "                        the address the application finds in unik_net_info\n"
	      "  --block NAME=FILE[:ro]\n"
	      "                        bind the declared block device NAME to FILE (a multiple\n"
	      "                        of 512 bytes), read-only with :ro\n"
	      "                        (TAP or FILE fd:N: descriptor N, already open; a tap\n"
	      "                        attached IFF_TAP | IFF_NO_PI)\n"
	      "  --mem MB              guest memory (default 32, 4 to 4096)\n"
	      "  --argv0 NAME          the application's argv[0] instead of the image's\n"
	      "  --console-abi         when the monitor ends the guest for a fault it sees, end\n"
	      "                        the console (stdout) as a unik guest does: `unik: crash:\n"
	      "                        ...`, then `unik: exit status 255` (docs/guest-abi.md)\n"
	      "  --help                print this help\n"
	      "  --version             print unik-hvt's version\n",
	      f);
}

static __attribute__((noreturn, format(printf, 2, 3))) void die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("unik-hvt: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 15 || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
	           &tail) != 6 ||
	    strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return !(mac[0] & 1);
}

/* NAME=VALUE of --net or --block into b; the value's options split off for net. */
static struct binding *parse_binding(const char *opt, const char *spec, unsigned kind)
{
	struct binding *b = xcalloc(1, sizeof(*b));
	const char *eq = strchr(spec, '=');

	b->spec = spec;
	b->kind = kind;
	b->fd = -1;
	if (!eq || !name_ok(spec, (size_t)(eq - spec)) || !eq[1])
		die(EXIT_SETUP,
		    "%s `%s`: expected NAME=%s, NAME of at most 15 of a-z, 0-9, _ and -, starting "
		    "with a letter",
		    opt, spec, kind == UNIK_DEV_NET ? "TAP" : "FILE");
	b->name = xstrndup(spec, (size_t)(eq - spec));
	if (kind == UNIK_DEV_BLK) {
		size_t n = strlen(eq + 1);

		if (n > 3 && !strcmp(eq + 1 + n - 3, ":ro")) {
			b->readonly = true;
			n -= 3;
		}
		b->path = xstrndup(eq + 1, n);
		return b;
	}
	_cleanup_free_ char *rest = xstrdup(eq + 1);
	char *save = NULL, *ip = NULL, *gw = NULL;
	char *tap = strtok_r(rest, ",", &save);

	if (!tap || strlen(tap) >= IFNAMSIZ)
		die(EXIT_SETUP, "%s `%s`: the tap name must have 1 to %d characters", opt, spec,
		    IFNAMSIZ - 1);
	b->path = xstrdup(tap);
	for (char *w = strtok_r(NULL, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (!strncmp(w, "mac=", 4) && parse_mac(w + 4, b->mac))
			b->has_mac = true;
		else if (!strncmp(w, "ip=", 3) && strchr(w, '/'))
			ip = w + 3;
		else if (!strncmp(w, "gw=", 3))
			gw = w + 3;
		else
			die(EXIT_SETUP,
			    "%s `%s`: `%s` is not mac=XX:XX:XX:XX:XX:XX (unicast), ip=IP/PREFIX or "
			    "gw=IP",
			    opt, spec, w);
	}
	if (gw && !ip)
		die(EXIT_SETUP, "%s `%s`: gw= needs ip=", opt, spec);
	if (ip && (size_t)snprintf(b->config, sizeof(b->config), "%s%s%s", ip, gw ? ",gw=" : "",
	                           gw ? gw : "") >= sizeof(b->config))
		die(EXIT_SETUP, "%s `%s`: the address is too long", opt, spec);
	return b;
}

/* "fd:N": descriptor N, open already (the hvt provider's, through unik-shim), moved to a
 * close-on-exec one; -1 when path is not that. */
static int inherited_fd(const struct binding *b, const char *opt, int *flags)
{
	char *end;
	long n;
	int fd;

	if (strncmp(b->path, "fd:", 3))
		return -1;
	n = strtol(b->path + 3, &end, 10);
	if (*end || end == b->path + 3 || n < 3 || n > 1024 ||
	    (*flags = fcntl((int)n, F_GETFL)) < 0 || (fd = fcntl((int)n, F_DUPFD_CLOEXEC, 3)) < 0)
		die(EXIT_SETUP, "%s %s: `%s` is not an open descriptor", opt, b->spec, b->path);
	close((int)n);
	return fd;
}

static void open_tap(struct binding *b)
{
	struct ifreq ifr;
	int fd, fl;

	if ((fd = inherited_fd(b, "--net", &fl)) >= 0) {
		if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			die(EXIT_SETUP, "--net %s: %s", b->spec, strerror(errno));
		goto attached;
	}

	/* TUNSETIFF would make a tap of any name that does not exist: nothing would reach it. */
	if (if_nametoindex(b->path) == 0)
		die(EXIT_SETUP,
		    "--net %s: there is no interface `%s` (make the tap first: ip tuntap "
		    "add %s mode tap)",
		    b->spec, b->path, b->path);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		die(EXIT_SETUP, "--net %s: open /dev/net/tun: %s", b->spec, strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, b->path, strlen(b->path));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die(EXIT_SETUP, "--net %s: attach to tap `%s`: %s", b->spec, b->path,
		    strerror(errno));
attached:
	b->fd = fd;
	if (!b->has_mac) {
		if (getrandom(b->mac, 6, 0) != 6)
			die(EXIT_SETUP, "getrandom: %s", strerror(errno));
		b->mac[0] = (uint8_t)((b->mac[0] & 0xfe) | 0x02); /* local, unicast */
	}
}

static void open_block(struct binding *b)
{
	struct stat st;
	int fl = 0, fd = inherited_fd(b, "--block", &fl);

	if (fd >= 0 && !b->readonly && (fl & O_ACCMODE) != O_RDWR)
		die(EXIT_SETUP, "--block %s: `%s` is not open for reading and writing", b->spec,
		    b->path);
	if (fd < 0)
		fd = open(b->path, (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		die(EXIT_SETUP, "--block %s: open `%s`: %s", b->spec, b->path, strerror(errno));
	if (fstat(fd, &st) < 0)
		die(EXIT_SETUP, "--block %s: stat `%s`: %s", b->spec, b->path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size % 512)
		die(EXIT_SETUP,
		    "--block %s: `%s` must be a regular file of a non-zero multiple of 512 "
		    "bytes (truncate -s SIZE FILE makes one)",
		    b->spec, b->path);
	b->fd = fd;
	b->sectors = (uint64_t)st.st_size / 512;
}

static const char *kind_word(unsigned kind)
{
	return kind == UNIK_DEV_NET ? "net" : "block";
}

/* Every declared device bound exactly once, nothing undeclared bound; the bindings ordered as
 * the declaration into vm->devs (their handles). */
static void bind_devices(struct vm *vm, const struct unik_guest_elf *g, struct binding **binds,
                         unsigned nbinds, const char *kernel)
{
	for (unsigned i = 0; i < nbinds; i++) {
		bool declared = false;

		for (unsigned k = 0; k < i; k++)
			if (!strcmp(binds[k]->name, binds[i]->name))
				die(EXIT_SETUP, "device `%s` is bound twice", binds[i]->name);
		for (unsigned d = 0; d < g->napp_devices; d++)
			if (!strcmp(g->app_devices[d].name, binds[i]->name) &&
			    g->app_devices[d].kind == binds[i]->kind)
				declared = true;
		if (!declared) {
			char list[16 * 24] = "";
			size_t n = 0;

			for (unsigned d = 0; d < g->napp_devices && n < sizeof(list); d++)
				n += (size_t)snprintf(
				    list + n, sizeof(list) - n, "%s%s:%s", d ? ", " : "",
				    kind_word(g->app_devices[d].kind), g->app_devices[d].name);
			die(EXIT_SETUP, "--%s %s: `%s` declares no %s device `%s` (it declares %s)",
			    kind_word(binds[i]->kind), binds[i]->spec, kernel,
			    kind_word(binds[i]->kind), binds[i]->name, n ? list : "none");
		}
	}
	for (unsigned d = 0; d < g->napp_devices; d++) {
		const struct unik_guest_elf_device *dev = &g->app_devices[d];
		struct binding *b = NULL;

		for (unsigned i = 0; i < nbinds && !b; i++)
			if (!strcmp(binds[i]->name, dev->name))
				b = binds[i];
		if (!b)
			die(EXIT_SETUP, "`%s` declares the %s device `%s`: bind it with --%s %s=%s",
			    kernel, kind_word(dev->kind), dev->name, kind_word(dev->kind),
			    dev->name, dev->kind == UNIK_DEV_NET ? "TAP" : "FILE");
		if (b->kind == UNIK_DEV_NET)
			open_tap(b);
		else
			open_block(b);
		vm->devs[vm->ndevs++] = b;
	}
}

/* ---- guest memory ---- */

/* The host address of guest-physical [gpa, gpa + len), or NULL when it is not all memory. */
static void *gpa_ptr(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa > vm->mem_size || len > vm->mem_size - gpa)
		return NULL;
	return vm->mem + gpa;
}

static void setup_page_tables(struct vm *vm)
{
	uint64_t *pml4 = (uint64_t *)(vm->mem + UNIK_HVT_PML4);
	uint64_t *pdpt = (uint64_t *)(vm->mem + UNIK_HVT_PDPT);
	uint64_t *pd = (uint64_t *)(vm->mem + UNIK_HVT_PD);
	uint64_t *pt = (uint64_t *)(vm->mem + UNIK_HVT_PT);

	/* present, writable, user: the application runs in ring 3 */
	pml4[0] = UNIK_HVT_PDPT | 7;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (UNIK_HVT_PD + 4096ull * (unsigned)i) | 7;
	for (uint64_t a = 0; a < vm->mem_size; a += 2 * MB)
		pd[a / (2 * MB)] = a | 0x87; /* a 2 MiB page */
	pd[0] = UNIK_HVT_PT | 7;
	for (int i = 1; i < 512; i++)
		pt[i] = 4096ull * (unsigned)i | 7;
}

static void setup_gdt(struct vm *vm)
{
	uint64_t *gdt = (uint64_t *)(vm->mem + UNIK_HVT_GDT);

	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffull; /* code: 64-bit, ring 0 */
	gdt[2] = 0x00cf92000000ffffull; /* data */
	gdt[3] = 0x00affa000000ffffull; /* code: 64-bit, ring 3 */
	gdt[4] = 0x00cff2000000ffffull; /* data, ring 3 */
	/* the busy 64-bit TSS at UNIK_HVT_TSS (below 16 MiB), 104 bytes */
	gdt[5] = 0x67 | UNIK_HVT_TSS << 16 | 0x8bull << 40;
	gdt[6] = 0;
}

/* The boot information and the arguments' strings after it. */
static void setup_boot(struct vm *vm, const struct unik_hvt_image *img, const char *argv0, int argc,
                       char **argv)
{
	struct unik_hvt_boot *b = (struct unik_hvt_boot *)(vm->mem + UNIK_HVT_BOOT);
	uint64_t at = (UNIK_HVT_BOOT + sizeof(*b) + 15) & ~15ull;
	uint64_t *words = (uint64_t *)(vm->mem + at);

	b->magic = UNIK_HVT_MAGIC;
	b->version = UNIK_HVT_VERSION;
	b->mem_size = vm->mem_size;
	b->kernel_end = img->load_end;
	if (getrandom(b->random, sizeof(b->random), 0) != sizeof(b->random))
		die(EXIT_SETUP, "getrandom: %s", strerror(errno));
	b->argc = (uint64_t)argc;
	b->argv = at;
	at += 8ull * (unsigned)argc;
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;

		if (n > UNIK_HVT_BOOT_END - at)
			die(EXIT_SETUP, "the arguments are too long (at most %llu bytes)",
			    (unsigned long long)(UNIK_HVT_BOOT_END - UNIK_HVT_BOOT - sizeof(*b)));
		memcpy(vm->mem + at, argv[i], n);
		words[i] = at;
		at += n;
	}
	if (argv0) {
		size_t n = strlen(argv0) + 1;

		if (n > UNIK_HVT_BOOT_END - at)
			die(EXIT_SETUP, "the arguments are too long (at most %llu bytes)",
			    (unsigned long long)(UNIK_HVT_BOOT_END - UNIK_HVT_BOOT - sizeof(*b)));
		memcpy(vm->mem + at, argv0, n);
		b->argv0 = at;
		at += n;
	}
	b->ndevices = vm->ndevs;
	for (unsigned i = 0; i < vm->ndevs; i++) {
		const struct binding *d = vm->devs[i];
		struct unik_hvt_device *o = &b->devices[i];

		memcpy(o->name, d->name, strlen(d->name));
		o->kind = unik_hvt_dev_kind(d->kind);
		o->mtu = 1500;
		memcpy(o->mac, d->mac, 6);
		o->readonly = d->readonly;
		o->sectors = d->sectors;
		memcpy(o->config, d->config, sizeof(o->config));
	}
}

/* ---- KVM ---- */

static void kvm_check(int r, const char *what)
{
	if (r < 0)
		die(EXIT_SETUP, "KVM: %s: %s", what, strerror(errno));
}

static void setup_vcpu(struct vm *vm, uint64_t entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_cpuid2 *cpuid = NULL;
	int n = 64;

	for (;;) {
		cpuid = xrealloc(cpuid, sizeof(*cpuid) + (size_t)n * sizeof(cpuid->entries[0]));
		memset(cpuid, 0, sizeof(*cpuid));
		cpuid->nent = (uint32_t)n;
		if (ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		if (errno != E2BIG || n > 4096)
			kvm_check(-1, "KVM_GET_SUPPORTED_CPUID");
		n *= 2;
	}
	kvm_check(ioctl(vm->vcpu, KVM_SET_CPUID2, cpuid), "KVM_SET_CPUID2");
	free(cpuid);

	kvm_check(ioctl(vm->vcpu, KVM_GET_SREGS, &sregs), "KVM_GET_SREGS");
	struct kvm_segment code = {.base = 0,
	                           .limit = 0xffffffff,
	                           .selector = UNIK_HVT_GDT_CODE,
	                           .type = 11,
	                           .present = 1,
	                           .s = 1,
	                           .l = 1,
	                           .g = 1};
	struct kvm_segment data = {.base = 0,
	                           .limit = 0xffffffff,
	                           .selector = UNIK_HVT_GDT_DATA,
	                           .type = 3,
	                           .present = 1,
	                           .s = 1,
	                           .db = 1,
	                           .g = 1};
	struct kvm_segment tss = {.base = UNIK_HVT_TSS,
	                          .limit = 0x67,
	                          .selector = UNIK_HVT_GDT_TSS,
	                          .type = 11,
	                          .present = 1};
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = tss;
	sregs.gdt.base = UNIK_HVT_GDT;
	sregs.gdt.limit = 7 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = 0x80050033; /* PG, AM, WP, NE, ET, MP, PE */
	sregs.cr3 = UNIK_HVT_PML4;
	sregs.cr4 = 0x620;  /* OSXMMEXCPT, OSFXSR, PAE */
	sregs.efer = 0x501; /* LMA, LME, SCE */
	kvm_check(ioctl(vm->vcpu, KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");

	memset(&regs, 0, sizeof(regs));
	regs.rip = entry;
	regs.rsp = vm->mem_size;
	regs.rdi = UNIK_HVT_BOOT;
	regs.rflags = 2;
	kvm_check(ioctl(vm->vcpu, KVM_SET_REGS, &regs), "KVM_SET_REGS");
}

static void create_vm(struct vm *vm)
{
	int r;

	vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm < 0)
		die(EXIT_SETUP,
		    "open /dev/kvm: %s (unik-hvt needs KVM; the virtio target runs "
		    "under QEMU without it)",
		    strerror(errno));
	r = ioctl(vm->kvm, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION)
		die(EXIT_SETUP, "KVM API version %d, not %d", r, KVM_API_VERSION);
	vm->vm = ioctl(vm->kvm, KVM_CREATE_VM, 0);
	kvm_check(vm->vm, "KVM_CREATE_VM");
	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED)
		die(EXIT_SETUP, "guest memory (%llu MiB): %s",
		    (unsigned long long)(vm->mem_size / MB), strerror(errno));
	struct kvm_userspace_memory_region region = {.slot = 0,
	                                             .guest_phys_addr = 0,
	                                             .memory_size = vm->mem_size,
	                                             .userspace_addr = (uintptr_t)vm->mem};
	kvm_check(ioctl(vm->vm, KVM_SET_USER_MEMORY_REGION, &region), "KVM_SET_USER_MEMORY_REGION");
	vm->vcpu = ioctl(vm->vm, KVM_CREATE_VCPU, 0);
	kvm_check(vm->vcpu, "KVM_CREATE_VCPU");
	r = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	kvm_check(r, "KVM_GET_VCPU_MMAP_SIZE");
	vm->run = mmap(NULL, (size_t)r, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu, 0);
	if (vm->run == MAP_FAILED)
		die(EXIT_SETUP, "KVM: mmap of the vCPU: %s", strerror(errno));
}

/* ---- hypercalls ---- */

static uint64_t ns(const struct timespec *t)
{
	return (uint64_t)t->tv_sec * 1000000000ull + (uint64_t)t->tv_nsec;
}

static uint64_t monotonic(struct vm *vm)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return ns(&t) - ns(&vm->start);
}

static const struct binding *handle_dev(struct vm *vm, uint64_t h, unsigned kind)
{
	return h < vm->ndevs && vm->devs[h]->kind == kind ? vm->devs[h] : NULL;
}

static uint64_t do_poll(struct vm *vm, uint64_t deadline)
{
	struct pollfd fds[UNIK_HVT_DEVICES];
	unsigned handle[UNIK_HVT_DEVICES], n = 0;
	uint64_t now = monotonic(vm), ready = 0;
	uint64_t wait = deadline > now ? deadline - now : 0;
	struct timespec ts;

	if (wait > 3600ull * 1000000000ull)
		wait = 3600ull * 1000000000ull;
	ts.tv_sec = (time_t)(wait / 1000000000ull);
	ts.tv_nsec = (long)(wait % 1000000000ull);
	for (unsigned i = 0; i < vm->ndevs; i++)
		if (vm->devs[i]->kind == UNIK_DEV_NET) {
			fds[n] = (struct pollfd){vm->devs[i]->fd, POLLIN, 0};
			handle[n++] = i;
		}
	if (ppoll(fds, n, &ts, NULL) > 0)
		for (unsigned i = 0; i < n; i++)
			if (fds[i].revents & POLLIN)
				ready |= 1ull << handle[i];
	return ready;
}

static uint64_t do_net(struct vm *vm, unsigned call, struct unik_hvt_io *io)
{
	const struct binding *b = handle_dev(vm, io->handle, UNIK_DEV_NET);
	void *buf = gpa_ptr(vm, io->data, io->len);
	ssize_t n;

	if (!b || !buf || (call == UNIK_HVT_NET_WRITE && io->len > 65536))
		return UNIK_HVT_EINVAL;
	if (call == UNIK_HVT_NET_WRITE) {
		n = write(b->fd, buf, io->len);
		return n == (ssize_t)io->len ? UNIK_HVT_OK : UNIK_HVT_EIO;
	}
	/* One frame, whatever the buffer's size: a tap's frames are at most 64 KiB. */
	n = read(b->fd, buf, io->len < 65536 ? io->len : 65536);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? UNIK_HVT_AGAIN : UNIK_HVT_EIO;
	io->len = (uint64_t)n;
	return UNIK_HVT_OK;
}

static uint64_t do_block(struct vm *vm, unsigned call, const struct unik_hvt_io *io)
{
	const struct binding *b = handle_dev(vm, io->handle, UNIK_DEV_BLK);
	uint8_t *buf = gpa_ptr(vm, io->data, io->len);
	uint64_t count = io->len / 512;

	if (!b || !buf || io->len % 512 || io->sector > b->sectors ||
	    count > b->sectors - io->sector || (call == UNIK_HVT_BLK_WRITE && b->readonly))
		return UNIK_HVT_EINVAL;
	for (uint64_t done = 0; done < io->len;) {
		off_t off = (off_t)(io->sector * 512 + done);
		ssize_t n = call == UNIK_HVT_BLK_READ
		                ? pread(b->fd, buf + done, io->len - done, off)
		                : pwrite(b->fd, buf + done, io->len - done, off);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return UNIK_HVT_EIO;
		}
		done += (uint64_t)n;
	}
	return UNIK_HVT_OK;
}

static const char *vector_name(uint64_t v)
{
	static const char *const names[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	                                    "#DF", "",    "#TS", "#NP", "#SS", "#GP", "#PF", "",
	                                    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"};
	return v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

/* Serves hypercall `call` with its argument struct at gpa; returns -1 to go on, else the
 * monitor's exit status. */
static int hypercall(struct vm *vm, unsigned call, uint64_t gpa)
{
	static const size_t sizes[UNIK_HVT_NCALLS] = {
	    [UNIK_HVT_CONSOLE] = sizeof(struct unik_hvt_console),
	    [UNIK_HVT_CLOCK] = sizeof(struct unik_hvt_clock),
	    [UNIK_HVT_NET_WRITE] = sizeof(struct unik_hvt_io),
	    [UNIK_HVT_NET_READ] = sizeof(struct unik_hvt_io),
	    [UNIK_HVT_BLK_READ] = sizeof(struct unik_hvt_io),
	    [UNIK_HVT_BLK_WRITE] = sizeof(struct unik_hvt_io),
	    [UNIK_HVT_POLL] = sizeof(struct unik_hvt_poll),
	    [UNIK_HVT_EXIT] = sizeof(struct unik_hvt_exit),
	    [UNIK_HVT_CRASH] = sizeof(struct unik_hvt_crash),
	};
	void *arg = call < UNIK_HVT_NCALLS && sizes[call] ? gpa_ptr(vm, gpa, sizes[call]) : NULL;

	if (!arg) {
		crash("the guest made hypercall %u with its argument at 0x%llx, "
		      "outside memory or unknown\n",
		      call, (unsigned long long)gpa);
		return EXIT_CRASH;
	}
	switch (call) {
	case UNIK_HVT_CONSOLE: {
		struct unik_hvt_console c;
		memcpy(&c, arg, sizeof(c));
		const char *p = gpa_ptr(vm, c.data, c.len);
		if (!p)
			break;
		for (uint64_t done = 0; done < c.len;) {
			ssize_t n = write(STDOUT_FILENO, p + done, c.len - done);
			if (n <= 0 && errno != EINTR)
				break;
			if (n > 0)
				done += (uint64_t)n;
		}
		break;
	}
	case UNIK_HVT_CLOCK: {
		struct timespec t;
		struct unik_hvt_clock c;
		clock_gettime(CLOCK_REALTIME, &t);
		c.wall = ns(&t);
		c.monotonic = monotonic(vm);
		memcpy(arg, &c, sizeof(c));
		break;
	}
	case UNIK_HVT_NET_WRITE:
	case UNIK_HVT_NET_READ:
	case UNIK_HVT_BLK_READ:
	case UNIK_HVT_BLK_WRITE: {
		struct unik_hvt_io io;
		memcpy(&io, arg, sizeof(io));
		io.ret = call == UNIK_HVT_NET_WRITE || call == UNIK_HVT_NET_READ
		             ? do_net(vm, call, &io)
		             : do_block(vm, call, &io);
		memcpy(arg, &io, sizeof(io));
		break;
	}
	case UNIK_HVT_POLL: {
		struct unik_hvt_poll p;
		memcpy(&p, arg, sizeof(p));
		p.ready = do_poll(vm, p.deadline);
		memcpy(arg, &p, sizeof(p));
		break;
	}
	case UNIK_HVT_EXIT: {
		struct unik_hvt_exit e;
		memcpy(&e, arg, sizeof(e));
		return (int)(e.status & 255);
	}
	case UNIK_HVT_CRASH: {
		struct unik_hvt_crash c;
		memcpy(&c, arg, sizeof(c));
		guest_crashed = true;
		fprintf(stderr,
		        "unik-hvt: the guest crashed: CPU exception %llu (%s) at rip 0x%llx, "
		        "address 0x%llx, error code 0x%llx\n",
		        (unsigned long long)c.vector, vector_name(c.vector),
		        (unsigned long long)c.rip, (unsigned long long)c.cr2,
		        (unsigned long long)c.error);
		return EXIT_CRASH;
	}
	}
	return -1;
}

static uint64_t guest_rip(struct vm *vm)
{
	struct kvm_regs regs;

	return ioctl(vm->vcpu, KVM_GET_REGS, &regs) == 0 ? regs.rip : 0;
}

static int run(struct vm *vm)
{
	struct kvm_run *r = vm->run;

	for (;;) {
		if (ioctl(vm->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			crash("KVM_RUN: %s\n", strerror(errno));
			return EXIT_CRASH;
		}
		switch (r->exit_reason) {
		case KVM_EXIT_IO:
			if (r->io.direction == KVM_EXIT_IO_OUT && r->io.size == 4 &&
			    r->io.count == 1 && r->io.port > UNIK_HVT_PORT &&
			    r->io.port < UNIK_HVT_PORT + UNIK_HVT_NCALLS) {
				uint32_t gpa;
				memcpy(&gpa, (uint8_t *)r + r->io.data_offset, 4);
				int status = hypercall(vm, r->io.port - UNIK_HVT_PORT, gpa);
				if (status >= 0)
					return status;
				continue;
			}
			crash("the guest accessed I/O port 0x%x (%s, %u bytes) at rip "
			      "0x%llx, which is no hypercall\n",
			      r->io.port, r->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			      r->io.size, (unsigned long long)guest_rip(vm));
			return EXIT_CRASH;
		case KVM_EXIT_MMIO:
			crash("the guest accessed 0x%llx, outside its memory, at rip "
			      "0x%llx\n",
			      (unsigned long long)r->mmio.phys_addr,
			      (unsigned long long)guest_rip(vm));
			return EXIT_CRASH;
		case KVM_EXIT_SHUTDOWN:
			crash("the guest stopped with a triple fault "
			      "(KVM_EXIT_SHUTDOWN) at "
			      "rip 0x%llx\n",
			      (unsigned long long)guest_rip(vm));
			return EXIT_CRASH;
		case KVM_EXIT_HLT:
			crash("the guest halted with interrupts off (KVM_EXIT_HLT) at rip "
			      "0x%llx\n",
			      (unsigned long long)guest_rip(vm));
			return EXIT_CRASH;
		case KVM_EXIT_FAIL_ENTRY:
			crash("KVM could not enter the guest (KVM_EXIT_FAIL_ENTRY, reason "
			      "0x%llx) at rip 0x%llx\n",
			      (unsigned long long)r->fail_entry.hardware_entry_failure_reason,
			      (unsigned long long)guest_rip(vm));
			return EXIT_CRASH;
		case KVM_EXIT_INTERNAL_ERROR:
			crash("KVM internal error (KVM_EXIT_INTERNAL_ERROR, suberror %u) "
			      "at rip 0x%llx\n",
			      r->internal.suberror, (unsigned long long)guest_rip(vm));
			return EXIT_CRASH;
		default:
			crash("unexpected KVM exit %u at rip 0x%llx\n", r->exit_reason,
			      (unsigned long long)guest_rip(vm));
			return EXIT_CRASH;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"net", required_argument, NULL, 'n'},   {"block", required_argument, NULL, 'b'},
	    {"mem", required_argument, NULL, 'm'},   {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},     {"argv0", required_argument, NULL, 'a'},
	    {"console-abi", no_argument, NULL, 'c'}, {NULL, 0, NULL, 0}};
	const char *argv0 = NULL;
	struct binding *binds[UNIK_HVT_DEVICES];
	unsigned nbinds = 0;
	unsigned long mem_mb = 32;
	struct vm vm = {.kvm = -1, .vm = -1, .vcpu = -1};
	struct unik_guest_elf g;
	struct unik_hvt_image img;
	struct unik_error err;
	_cleanup_free_ char *file = NULL;
	size_t len;
	int c;

	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
		case 'b':
			if (nbinds == UNIK_HVT_DEVICES)
				die(EXIT_SETUP, "at most %d devices", UNIK_HVT_DEVICES);
			binds[nbinds++] = parse_binding(c == 'n' ? "--net" : "--block", optarg,
			                                c == 'n' ? UNIK_DEV_NET : UNIK_DEV_BLK);
			break;
		case 'm': {
			char *end;
			errno = 0;
			mem_mb = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || mem_mb < 4 || mem_mb > 4096)
				die(EXIT_SETUP,
				    "--mem `%s`: expected a number of MiB from 4 to 4096", optarg);
			break;
		}
		case 'a':
			argv0 = optarg;
			break;
		case 'c':
			console_abi = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("unik-hvt (unik) %s\n", UNIK_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_SETUP;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_SETUP;
	}
	const char *kernel = argv[optind];

	/* Everything about the image and the devices is checked before KVM is touched. */
	if (unik_read_file(kernel, &file, &len, &err) < 0)
		die(EXIT_SETUP, "%s", err.msg);
	if (unik_guest_elf_parse_mem(file, len, kernel, &g, &err) < 0)
		die(EXIT_SETUP, "%s", err.msg);
	if (!g.app)
		die(EXIT_SETUP,
		    "`%s` is not a device application (it has no device note): build it with "
		    "`unik-cc --unik-target hvt`",
		    kernel);
	if (g.pvh)
		die(EXIT_SETUP,
		    "`%s` is built for the virtio target (it has a PVH entry): run it with `unik "
		    "run`, or rebuild it with `unik-cc --unik-target hvt`",
		    kernel);
	vm.mem_size = (uint64_t)(mem_mb + (mem_mb & 1)) * MB; /* whole 2 MiB pages */
	clock_gettime(CLOCK_MONOTONIC, &vm.start);
	bind_devices(&vm, &g, binds, nbinds, kernel);

	create_vm(&vm);
	if (unik_hvt_elf_load(file, len, kernel, vm.mem, vm.mem_size, UNIK_HVT_LOAD_MIN, &img,
	                      &err) < 0)
		die(EXIT_SETUP, "%s", err.msg);
	if (img.load_end + 2 * MB > vm.mem_size)
		die(EXIT_SETUP, "`%s` needs more memory than --mem %lu gives it", kernel, mem_mb);
	setup_gdt(&vm);
	setup_page_tables(&vm);
	setup_boot(&vm, &img, argv0, argc - optind - 1, argv + optind + 1);
	setup_vcpu(&vm, img.entry);
	{
		int taps[UNIK_HVT_DEVICES], blocks[UNIK_HVT_DEVICES];
		bool ro[UNIK_HVT_DEVICES];
		unsigned ntaps = 0, nblocks = 0;

		for (unsigned i = 0; i < vm.ndevs; i++) {
			if (vm.devs[i]->kind == UNIK_DEV_NET) {
				taps[ntaps++] = vm.devs[i]->fd;
			} else {
				ro[nblocks] = vm.devs[i]->readonly;
				blocks[nblocks++] = vm.devs[i]->fd;
			}
		}
		if (hvt_confine(vm.vcpu, taps, ntaps, blocks, ro, nblocks, &err) < 0)
			die(EXIT_SETUP, "%s", err.msg);
	}
	return finish(run(&vm));
}
