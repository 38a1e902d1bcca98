/* The hvt target's platform (unikrt-hvt.o): what a device application and musl need under
 * unik-hvt, and nothing else.  The application runs in ring 0 on the monitor's 1:1 page tables;
 * musl's and libunikapp's `syscall` instructions land in hvt_syscall, which serves the few Linux
 * calls musl makes (write, brk, mmap, arch_prctl, clock_gettime, exit) and the device calls of
 * app/appcall.h, each device or clock call by one hypercall to the monitor (include/unik/hvt.h).
 * No scheduler, no interrupts, no drivers: the monitor is the device model. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "app/appcall.h"
#include "kernel/cmdline.h"
#include "unik/abi.h"
#include "unik/hvt.h"

#define ENOENT  2
#define EIO     5
#define EBADF   9
#define EAGAIN  11
#define ENOMEM  12
#define EINVAL  22
#define ENOTTY  25
#define ENOSYS  38
#define SIGABRT 6

#define STACK_SIZE (1024 * 1024)
#define TOP_GAP    (64 * 1024) /* hvt_main's own frame, at the top of memory */
#define PAGE       4096ull

extern char __unik_cmdline_start[], __unik_cmdline_end[], __unik_image_end[];
extern const unsigned char __ehdr_start[];
extern void _start(void);
extern const uint64_t hvt_traps[22];
void hvt_syscall_entry(void);
__attribute__((noreturn)) void hvt_enter(uint64_t sp, void (*entry)(void));

static const struct unik_hvt_boot *boot;
static uint64_t heap_start, heap_brk, mmap_low;
static uint64_t rng_state;
static unsigned unsupported_reports;

void hvt_hypercall(uint32_t port, uint32_t arg); /* start.S: directly or through the door */

static void hypercall(unsigned call, void *arg)
{
	hvt_hypercall(UNIK_HVT_PORT + call, (uint32_t)(uintptr_t)arg);
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static void console(const char *s, size_t n)
{
	struct unik_hvt_console c = {(uint64_t)(uintptr_t)s, n};

	hypercall(UNIK_HVT_CONSOLE, &c);
}

/* ---- the helpers kernel/cmdline.c needs ---- */

size_t k_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

char *k_strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

int k_strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++)
		if (*a != *b || !*a)
			return (unsigned char)*a - (unsigned char)*b;
	return 0;
}

int k_strcmp(const char *a, const char *b)
{
	return k_strncmp(a, b, (size_t)-1);
}

static void put_num(char **p, char *end, uint64_t v, unsigned base)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && *p < end)
		*(*p)++ = tmp[--n];
}

/* %s %c %d %u %x with an optional l or z: what the few messages here use. */
void kprintf(const char *fmt, ...)
{
	char buf[256], *p = buf, *end = buf + sizeof(buf);
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt && p < end; fmt++) {
		if (*fmt != '%') {
			*p++ = *fmt;
			continue;
		}
		bool is_long = false;
		while (fmt[1] == 'l' || fmt[1] == 'z') {
			is_long = true;
			fmt++;
		}
		switch (*++fmt) {
		case 's':
			for (const char *s = va_arg(ap, const char *); *s && p < end; s++)
				*p++ = *s;
			break;
		case 'c':
			*p++ = (char)va_arg(ap, int);
			break;
		case 'd': {
			int64_t v = is_long ? va_arg(ap, int64_t) : va_arg(ap, int);
			if (v < 0) {
				*p++ = '-';
				v = -v;
			}
			put_num(&p, end, (uint64_t)v, 10);
			break;
		}
		case 'u':
			put_num(&p, end, is_long ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10);
			break;
		case 'x':
			put_num(&p, end, is_long ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16);
			break;
		case '\0':
			fmt--;
			break;
		default:
			*p++ = *fmt;
		}
	}
	va_end(ap);
	console(buf, (size_t)(p - buf));
}

static __attribute__((noreturn)) void exit_vm(int status)
{
	struct unik_hvt_exit e = {(uint64_t)(status & 255)};

	kprintf(UNIK_CONSOLE_PREFIX "exit status %d\n", status & 255);
	for (;;)
		hypercall(UNIK_HVT_EXIT, &e);
}

void panic(const char *fmt, ...)
{
	kprintf(UNIK_CONSOLE_PREFIX "panic: %s\n", fmt);
	exit_vm(255);
}

/* The command line's words and vectors: a bump allocator over a static arena, never freed. */
static unsigned char arena[64 * 1024] __attribute__((aligned(16)));
static size_t arena_used;

void *kmalloc(size_t n)
{
	size_t *p;

	n = (n + sizeof(size_t) + 15) & ~(size_t)15;
	if (n > sizeof(arena) - arena_used)
		return NULL;
	p = (size_t *)(arena + arena_used);
	arena_used += n;
	*p = n - sizeof(size_t);
	return p + 1;
}

void kfree(void *p)
{
	(void)p;
}

void *krealloc(void *old, size_t n)
{
	unsigned char *p = kmalloc(n);
	size_t have = old ? ((size_t *)old)[-1] : 0;

	if (p && old)
		for (size_t i = 0; i < have && i < n; i++)
			p[i] = ((unsigned char *)old)[i];
	return p;
}

char *k_strndup(const char *s, size_t n)
{
	char *p = kmalloc(n + 1);

	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = s[i];
	p[n] = 0;
	return p;
}

/* The baked line has no device words: cmdline_parse gets no table to put them in. */
bool devices_take_word(const char *word, struct rt_devices *t)
{
	(void)word;
	(void)t;
	return false;
}

/* ---- CPU set-up ---- */

struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, attr;
	uint16_t off1;
	uint32_t off2, zero;
};

static struct idt_gate idt[32];
/* The ring-0 stack of exceptions from ring 3 (the TSS's rsp0): the door and faults. */
static unsigned char trap_stack[16384] __attribute__((aligned(16)));
static bool fsgsbase;

static void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid"
	                 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
	                 : "a"(leaf), "c"(0));
}

/* SSE for musl and the compiler's code.  The monitor's CR0 and CR4 say the same, but the CPU is
 * told again from inside, as the runtime's arch/x86_64/cpu.c does: some hypervisors (PVM) take
 * the guest's own writes only.  FS_BASE goes through wrfsbase where there is one: PVM refuses
 * it through wrmsr. */
static void fpu_init(void)
{
	uint32_t r[4], l7[4];
	uint64_t cr0, cr4;

	cpuid(1, r);
	cpuid(7, l7);
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	cr0 = (cr0 & ~(1ul << 2 | 1ul << 3)) | 1ul << 1 | 1ul << 5; /* EM, TS off; MP, NE on */
	__asm__ volatile("mov %0, %%cr0" : : "r"(cr0));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= 1ul << 9 | 1ul << 10; /* OSFXSR, OSXMMEXCPT */
	if (r[2] & (1u << 26))
		cr4 |= 1ul << 18; /* OSXSAVE */
	fsgsbase = l7[1] & 1;
	if (fsgsbase)
		cr4 |= 1ul << 16;
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
	if (r[2] & (1u << 26))
		__asm__ volatile("xsetbv" : : "c"(0), "a"(3), "d"(0)); /* x87 and SSE state */
	__asm__ volatile("fninit");
}

static void set_fs(uint64_t base)
{
	if (fsgsbase)
		__asm__ volatile("wrfsbase %0" : : "r"(base));
	else
		wrmsr(0xc0000100, base);
}

static void setup_cpu(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};

	for (int i = 0; i < 22; i++) {
		uint64_t a = hvt_traps[i];
		idt[i] = (struct idt_gate){(uint16_t)a,         UNIK_HVT_GDT_CODE,   0, 0x8e,
		                           (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0};
	}
	__asm__ volatile("lidt %0" : : "m"(idtr));
	uint64_t rsp0 = (uint64_t)(uintptr_t)(trap_stack + sizeof(trap_stack));
	__builtin_memcpy((void *)(uintptr_t)(UNIK_HVT_TSS + 4), &rsp0, sizeof(rsp0));
	fpu_init();
	wrmsr(0xc0000081, (uint64_t)UNIK_HVT_GDT_CODE << 32);      /* STAR */
	wrmsr(0xc0000082, (uint64_t)(uintptr_t)hvt_syscall_entry); /* LSTAR */
	wrmsr(0xc0000084, 0x47500); /* FMASK: TF, DF, AC, NT cleared on entry */
}

/* A CPU exception: the report of the guest ABI, then the monitor ends the VM. */
__attribute__((noreturn)) void hvt_fault(uint64_t *frame)
{
	struct unik_hvt_crash c = {frame[0], frame[1], frame[2], 0};

	__asm__ volatile("mov %%cr2, %0" : "=r"(c.cr2));
	kprintf(UNIK_CONSOLE_PREFIX "crash: vector %lu at rip 0x%lx, address 0x%lx, error 0x%lx\n",
	        c.vector, c.rip, c.cr2, c.error);
	for (;;)
		hypercall(UNIK_HVT_CRASH, &c);
}

/* ---- system calls ---- */

static uint64_t now(int wall)
{
	struct unik_hvt_clock c = {0, 0};

	hypercall(UNIK_HVT_CLOCK, &c);
	return wall ? c.wall : c.monotonic;
}

static long sys_write(long fd, const char *buf, size_t n)
{
	if (fd != 1 && fd != 2)
		return -EBADF;
	console(buf, n);
	return (long)n;
}

struct iovec {
	const char *base;
	size_t len;
};

static long sys_writev(long fd, const struct iovec *iov, long cnt)
{
	long total = 0;

	if (fd != 1 && fd != 2)
		return -EBADF;
	for (long i = 0; i < cnt; i++) {
		console(iov[i].base, iov[i].len);
		total += (long)iov[i].len;
	}
	return total;
}

static void zero(uint64_t from, uint64_t to)
{
	for (unsigned char *p = (unsigned char *)(uintptr_t)from; p < (unsigned char *)to; p++)
		*p = 0;
}

/* brk grows up from the image's end, anonymous mmap down from below the stack; they meet at
 * worst.  munmap keeps what it is given: an application here allocates and keeps. */
static long sys_brk(uint64_t want)
{
	if (want >= heap_start && want <= mmap_low) {
		if (want > heap_brk)
			zero(heap_brk, want);
		heap_brk = want;
	}
	return (long)heap_brk;
}

static long sys_mmap(uint64_t addr, uint64_t len, long flags, long fd)
{
	(void)addr;
	if (!(flags & 0x20) || (flags & 0x10) || fd != -1 || !len)
		return -EINVAL; /* only anonymous, not MAP_FIXED */
	len = (len + PAGE - 1) & ~(PAGE - 1);
	if (len > mmap_low - heap_brk)
		return -ENOMEM;
	mmap_low -= len;
	zero(mmap_low, mmap_low + len);
	return (long)mmap_low;
}

static long sys_clock_gettime(long id, int64_t *ts)
{
	uint64_t t = now(id == 0 || id == 8); /* CLOCK_REALTIME, CLOCK_REALTIME_ALARM */

	ts[0] = (int64_t)(t / 1000000000u);
	ts[1] = (int64_t)(t % 1000000000u);
	return 0;
}

static uint64_t poll(uint64_t deadline)
{
	struct unik_hvt_poll p = {deadline, 0};

	hypercall(UNIK_HVT_POLL, &p);
	return p.ready;
}

static long sys_nanosleep(const int64_t *req)
{
	uint64_t deadline = now(0) + (uint64_t)req[0] * 1000000000u + (uint64_t)req[1];

	while (now(0) < deadline)
		poll(deadline);
	return 0;
}

static long sys_getrandom(unsigned char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		buf[i] = (unsigned char)(rng_state >> 32);
	}
	return (long)n;
}

static const struct unik_hvt_device *device(uint64_t h, uint32_t kind)
{
	return h < boot->ndevices && boot->devices[h].kind == kind ? &boot->devices[h] : NULL;
}

static long acquire(long kind, const char *name, struct appcall_info *ai)
{
	for (uint32_t i = 0; i < boot->ndevices; i++) {
		const struct unik_hvt_device *d = &boot->devices[i];

		if (d->kind != (uint32_t)kind || k_strncmp(d->name, name, sizeof(d->name)))
			continue;
		unsigned char *p = (unsigned char *)ai;
		for (size_t k = 0; k < sizeof(*ai); k++)
			p[k] = 0;
		for (int k = 0; k < 6; k++)
			ai->mac[k] = d->mac[k];
		ai->mtu = d->mtu;
		ai->readonly = d->readonly;
		ai->sectors = d->sectors;
		for (size_t k = 0;
		     k + 1 < sizeof(ai->config) && k < sizeof(d->config) && d->config[k]; k++)
			ai->config[k] = d->config[k];
		return i;
	}
	return -ENOENT;
}

static long io_result(uint64_t r, long ok)
{
	return r == UNIK_HVT_OK      ? ok
	       : r == UNIK_HVT_AGAIN ? -EAGAIN
	       : r == UNIK_HVT_EIO   ? -EIO
	                             : -EINVAL;
}

static long net_io(unsigned call, uint64_t h, void *buf, uint64_t len)
{
	struct unik_hvt_io io = {h, 0, (uint64_t)(uintptr_t)buf, len, 0};

	if (!device(h, UNIK_HVT_DEV_NET))
		return -EINVAL;
	if (call == UNIK_HVT_NET_WRITE && (len < 14 || len > 1514u))
		return -EINVAL;
	hypercall(call, &io);
	return io_result(io.ret, call == UNIK_HVT_NET_READ ? (long)io.len : 0);
}

static long blk_io(unsigned call, uint64_t h, uint64_t sector, void *buf, uint64_t count)
{
	struct unik_hvt_io io = {h, sector, (uint64_t)(uintptr_t)buf, count * 512, 0};

	if (!device(h, UNIK_HVT_DEV_BLK) || count > (1u << 20))
		return -EINVAL;
	hypercall(call, &io);
	return io_result(io.ret, 0);
}

long hvt_syscall(long a0, long a1, long a2, long a3, long a4, long nr, long a5)
{
	(void)a5;
	switch (nr) {
	case 0: /* read: stdin is empty */
		return a0 == 0 ? 0 : -EBADF;
	case 1:
		return sys_write(a0, (const char *)a1, (size_t)a2);
	case 20:
		return sys_writev(a0, (const void *)a1, a2);
	case 3: /* close */
		return a0 <= 2 ? 0 : -EBADF;
	case 16: /* ioctl: the console is no terminal */
		return -ENOTTY;
	case 9:
		return sys_mmap((uint64_t)a0, (uint64_t)a1, a3, a4);
	case 10: /* mprotect */
	case 11: /* munmap */
	case 28: /* madvise */
	case 13: /* rt_sigaction */
	case 14: /* rt_sigprocmask */
		return 0;
	case 25: /* mremap: musl then allocates and copies */
		return -ENOMEM;
	case 12:
		return sys_brk((uint64_t)a0);
	case 158:                   /* arch_prctl */
		if (a0 == 0x1002) { /* ARCH_SET_FS */
			set_fs((uint64_t)a1);
			return 0;
		}
		if (a0 == 0x1003) { /* ARCH_GET_FS */
			uint64_t fs;
			if (fsgsbase)
				__asm__ volatile("rdfsbase %0" : "=r"(fs));
			else
				fs = rdmsr(0xc0000100);
			*(uint64_t *)a1 = fs;
			return 0;
		}
		return -EINVAL;
	case 39:  /* getpid */
	case 186: /* gettid */
	case 218: /* set_tid_address */
		return 1;
	case 228:
		return sys_clock_gettime(a0, (int64_t *)a1);
	case 35: /* nanosleep */
		return sys_nanosleep((const int64_t *)a0);
	case 230: /* clock_nanosleep, relative only */
		return a1 ? -EINVAL : sys_nanosleep((const int64_t *)a2);
	case 318:
		return sys_getrandom((unsigned char *)a0, (size_t)a1);
	case 62:  /* kill */
	case 200: /* tkill: abort() */
	case 234: /* tgkill */
		kprintf(UNIK_CONSOLE_PREFIX "crash: signal %d\n", (int)(nr == 234 ? a2 : a1));
		exit_vm(255);
	case 60:  /* exit */
	case 231: /* exit_group */
		exit_vm((int)a0);
	case APPCALL_ACQUIRE:
		return acquire(a0, (const char *)a1, (struct appcall_info *)a2);
	case APPCALL_NET_WRITE:
		return net_io(UNIK_HVT_NET_WRITE, (uint64_t)a0, (void *)a1, (uint64_t)a2);
	case APPCALL_NET_READ:
		return net_io(UNIK_HVT_NET_READ, (uint64_t)a0, (void *)a1, (uint64_t)a2);
	case APPCALL_YIELD:
		return (long)poll((uint64_t)a0);
	case APPCALL_BLK_READ:
		return blk_io(UNIK_HVT_BLK_READ, (uint64_t)a0, (uint64_t)a1, (void *)a2,
		              (uint64_t)a3);
	case APPCALL_BLK_WRITE:
		return blk_io(UNIK_HVT_BLK_WRITE, (uint64_t)a0, (uint64_t)a1, (void *)a2,
		              (uint64_t)a3);
	}
	if (unsupported_reports < 8) {
		unsupported_reports++;
		kprintf(UNIK_CONSOLE_PREFIX "hvt: system call %ld is not supported\n", nr);
	}
	return -ENOSYS;
}

/* ---- start-up ---- */

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Builds the stack musl's _start expects below top (argc, argv, envp, the auxiliary vector)
 * and returns its address. */
static uint64_t initial_stack(uint64_t top, struct cmdline_words *argv, struct cmdline_words *env,
                              const unsigned char *random)
{
	uint64_t aux[] = {
	    6,  PAGE,                                                         /* AT_PAGESZ */
	    3,  (uint64_t)(uintptr_t)__ehdr_start + get64(__ehdr_start + 32), /* AT_PHDR */
	    4,  get16(__ehdr_start + 54),                                     /* AT_PHENT */
	    5,  get16(__ehdr_start + 56),                                     /* AT_PHNUM */
	    9,  (uint64_t)(uintptr_t)_start,                                  /* AT_ENTRY */
	    11, 0,
	    12, 0,
	    13, 0,
	    14, 0,
	    23, 0,                           /* uids, AT_SECURE */
	    25, (uint64_t)(uintptr_t)random, /* AT_RANDOM */
	    0,  0};
	size_t words = 1 + (size_t)argv->n + 1 + (size_t)env->n + 1 + sizeof(aux) / 8;
	uint64_t *sp = (uint64_t *)(uintptr_t)((top - words * 8) & ~15ull), *p = sp;

	*p++ = (uint64_t)argv->n;
	for (int i = 0; i < argv->n; i++)
		*p++ = (uint64_t)(uintptr_t)argv->v[i];
	*p++ = 0;
	for (int i = 0; i < env->n; i++)
		*p++ = (uint64_t)(uintptr_t)env->v[i];
	*p++ = 0;
	for (size_t i = 0; i < sizeof(aux) / 8; i++)
		*p++ = aux[i];
	return (uint64_t)(uintptr_t)sp;
}

__attribute__((noreturn)) void hvt_main(const struct unik_hvt_boot *b)
{
	static unsigned char random[16];
	struct cmdline_words env = {0}, argv = {0};

	boot = b;
	setup_cpu();
	if (b->magic != UNIK_HVT_MAGIC || b->version != UNIK_HVT_VERSION)
		panic("the monitor's boot information is not unik-hvt's version 1");
	for (int i = 0; i < 16; i++) {
		random[i] = b->random[i];
		rng_state = rng_state << 8 ^ b->random[i] ^ (rng_state >> 56);
	}
	rng_state |= 1;

	cmdline_parse(__unik_cmdline_start, (size_t)(__unik_cmdline_end - __unik_cmdline_start),
	              false, &env, &argv, NULL);
	if (b->argc) {
		char *argv0 = argv.n ? argv.v[0] : "app";
		const uint64_t *words = (const uint64_t *)(uintptr_t)b->argv;

		argv.n = 0;
		cmdline_push(&argv, argv0);
		for (uint64_t i = 0; i < b->argc; i++)
			cmdline_push(&argv, (char *)(uintptr_t)words[i]);
	}
	if (b->argv0 && argv.n)
		argv.v[0] = (char *)(uintptr_t)b->argv0;
	else if (b->argv0)
		cmdline_push(&argv, (char *)(uintptr_t)b->argv0);
	if (!argv.n)
		cmdline_push(&argv, "app");

	heap_start = heap_brk = ((uint64_t)(uintptr_t)__unik_image_end + PAGE - 1) & ~(PAGE - 1);
	uint64_t top = b->mem_size - TOP_GAP;
	mmap_low = top - STACK_SIZE;
	if (mmap_low <= heap_start)
		panic("too little memory for the image and its stack");
	hvt_enter(initial_stack(top, &argv, &env, random), _start);
}
