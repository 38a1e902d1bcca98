/* The system-call dispatcher, and the calls about the process itself: exit, identity, time,
 * randomness and limits (signals are kernel/signal.c's).  A call the runtime lacks returns
 * -ENOSYS and is named once. */
#include "kernel/kernel.h"
#include "kernel/mem.h"
#include <unik/devices.h>
#include "fs/fs.h"
#include "syscall_names.h"
#include "kernel/sched.h"
#include "kernel/signal.h"
#include "sys/syscall.h"
#include "sys/sysdefs.h"
#include "platform/xen/xen.h"

/* --- exit --- */

static bool crashed; /* a crash report was printed: Xen is told of a crash, not a power-off */

static uint64_t exit_r0(uint64_t status, uint64_t u1, uint64_t u2)
{
	(void)u1, (void)u2;
	xen_shutdown(crashed); /* returns only when not under Xen (or Xen refused) */
	outb(UNIK_DEBUG_EXIT_PORT, (uint8_t)status);
	/* No isa-debug-exit: try ACPI soft-off (QEMU pc/q35), then the keyboard controller's reset
	 * (Firecracker ends the VM on it), then a triple fault. */
	outw(0x604, 0x2000);
	outb(0x64, 0xfe);
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) none = {0, 0};
	__asm__ volatile("lidt %0; int3" : : "m"(none));
	for (;;)
		__asm__ volatile("cli; hlt");
	return 0;
}

NORETURN void proc_exit(int status)
{
	status &= 0xff;
	/* Volumes get what the program wrote, and are left clean, before the status line that
	 * tells the host the guest is done.  Not after a crash: the kernel's state is suspect. */
	if (!crashed)
		fs_sync_all(true);
	kprintf(UNIK_EXIT_LINE_PREFIX "%d\n", status);
	ring0(exit_r0, (uint64_t)status, 0, 0);
	__builtin_unreachable();
}

NORETURN void proc_exit_crash(void)
{
	crashed = true;
	proc_exit(UNIK_EXIT_CRASH);
}

/* --- randomness: RDRAND where the CPU has it, else a generator seeded from the TSC --- */

static uint64_t rng_state;

static uint64_t splitmix(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
	return z ^ (z >> 31);
}

static uint64_t random_u64(void)
{
	if (cpu_has_rdrand()) {
		for (int i = 0; i < 10; i++) {
			uint64_t v;
			uint8_t ok;
			__asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok));
			if (ok)
				return v ^ splitmix();
		}
	}
	if (!rng_state)
		rng_state = rdtsc();
	rng_state ^= rdtsc();
	return splitmix();
}

void random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		uint64_t v = random_u64();
		size_t c = MIN(n, sizeof(v));
		k_memcpy(p, &v, c);
		p += c;
		n -= c;
	}
}

static long sys_getrandom(void *buf, uint64_t n, long flags)
{
	if (flags & ~7L)
		return -EINVAL;
	n = MIN(n, 33554431UL);
	random_bytes(buf, n);
	return (long)n;
}

/* --- identity --- */

/* uname's nodename: "unik" unless the boot line said (unik.hostname=) or sethostname did.
 * In .bss, with a flag for "set" (Linux allows an empty name), so that hello carries no
 * initialised copy. */
static char hostname[UNIK_HOSTNAME_MAX + 1], domainname[UNIK_HOSTNAME_MAX + 1];
static bool hostname_set, domainname_set;

const char *kern_hostname(void)
{
	return hostname_set ? hostname : "unik";
}

void kern_set_hostname(const char *name, size_t len)
{
	k_memcpy(hostname, name, len);
	hostname[len] = 0;
	hostname_set = true;
}

/* sethostname and setdomainname, with Linux's errors (the guest runs as root). */
static long set_name(char *dst, bool *set, const char *name, long len)
{
	if (len < 0 || len > UNIK_HOSTNAME_MAX)
		return -EINVAL;
	if (len && !user_range_ok(name, (size_t)len))
		return -EFAULT;
	k_memcpy(dst, name, (size_t)len);
	dst[len] = 0;
	*set = true;
	return 0;
}

static long sys_uname(struct linux_utsname *u)
{
	k_memset(u, 0, sizeof(*u));
	/* The Linux system-call ABI is what the application sees, so it is told "Linux", as
	 * gVisor does; the release and version say what really runs it. */
	k_memcpy(u->sysname, "Linux", 6);
	const char *h = kern_hostname(), *dn = domainname_set ? domainname : "(none)";
	k_memcpy(u->nodename, h, k_strlen(h) + 1);
	k_memcpy(u->release, "6.1.0-unik", 11);
	k_snprintf(u->version, sizeof(u->version), "unik guest ABI %d", UNIK_ABI_VERSION);
	k_memcpy(u->machine, "x86_64", 7);
	k_memcpy(u->domainname, dn, k_strlen(dn) + 1);
	return 0;
}

/* --- time --- */

static long put_ts(struct linux_timespec *ts, uint64_t ns)
{
	ts->tv_sec = (int64_t)(ns / 1000000000);
	ts->tv_nsec = (int64_t)(ns % 1000000000);
	return 0;
}

static long clock_ns(long id, uint64_t *ns)
{
	switch (id) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case 11: /* CLOCK_TAI */
		*ns = clock_realtime_ns();
		return 0;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
	case CLOCK_PROCESS_CPUTIME_ID:
	case CLOCK_THREAD_CPUTIME_ID:
		*ns = clock_monotonic_ns();
		return 0;
	default:
		return -EINVAL;
	}
}

static long sys_clock_gettime(long id, struct linux_timespec *ts)
{
	uint64_t ns;
	long r = clock_ns(id, &ns);
	return r < 0 ? r : put_ts(ts, ns);
}

static long sys_clock_getres(long id, struct linux_timespec *ts)
{
	uint64_t ns;
	long r = clock_ns(id, &ns);
	if (r < 0)
		return r;
	if (ts)
		put_ts(ts, 1);
	return 0;
}

static long sys_gettimeofday(struct linux_timeval *tv, void *tz)
{
	if (tz)
		k_memset(tz, 0, 8);
	if (tv) {
		uint64_t ns = clock_realtime_ns();
		tv->tv_sec = (int64_t)(ns / 1000000000);
		tv->tv_usec = (int64_t)(ns % 1000000000 / 1000);
	}
	return 0;
}

static long sys_time(int64_t *t)
{
	int64_t s = (int64_t)(clock_realtime_ns() / 1000000000);
	if (t)
		*t = s;
	return s;
}

static long ts_ns(const struct linux_timespec *ts, uint64_t *ns)
{
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)
		return -EINVAL;
	uint64_t s = (uint64_t)ts->tv_sec;
	*ns = s > 1000000000000ULL ? UINT64_MAX / 2 : s * 1000000000 + (uint64_t)ts->tv_nsec;
	return 0;
}

static long sys_clock_nanosleep(long id, long flags, const struct linux_timespec *req,
                                struct linux_timespec *rem)
{
	uint64_t ns, now;
	long r = ts_ns(req, &ns);
	if (r < 0)
		return r;
	r = clock_ns(id, &now);
	if (r < 0)
		return r;
	if (id == CLOCK_PROCESS_CPUTIME_ID || id == CLOCK_THREAD_CPUTIME_ID)
		return -EINVAL;
	uint64_t mono = clock_monotonic_ns();
	uint64_t deadline;
	if (flags & TIMER_ABSTIME)
		deadline = ns > now ? mono + (ns - now) : mono;
	else
		deadline = mono + ns;
	r = thread_sleep_until(deadline);
	if (rem && !(flags & TIMER_ABSTIME)) {
		uint64_t left = clock_monotonic_ns();
		put_ts(rem, left < deadline ? deadline - left : 0);
	}
	return r;
}

static long sys_nanosleep(const struct linux_timespec *req, struct linux_timespec *rem)
{
	return sys_clock_nanosleep(CLOCK_MONOTONIC, 0, req, rem);
}

static long sys_times(uint64_t *buf)
{
	uint64_t ticks = clock_monotonic_ns() / 10000000;
	if (buf) {
		buf[0] = ticks;
		buf[1] = buf[2] = buf[3] = 0;
	}
	return (long)ticks;
}

static long sys_getrusage(long who, uint64_t *ru)
{
	if (who != 0 && who != -1 && who != 1)
		return -EINVAL;
	k_memset(ru, 0, 144);
	if (who != -1) {
		uint64_t ns = clock_monotonic_ns();
		ru[0] = ns / 1000000000;
		ru[1] = ns % 1000000000 / 1000;
		ru[4] = (mem_total_bytes() - mem_free_bytes()) / 1024; /* ru_maxrss, KiB */
	}
	return 0;
}

/* --- limits and system information --- */

static long sys_prlimit64(long pid, long res, const struct linux_rlimit *nl,
                          struct linux_rlimit *old)
{
	if (pid != 0 && pid != 1)
		return -ESRCH;
	if (res < 0 || res >= 16)
		return -EINVAL;
	static struct linux_rlimit lim[16];
	static bool init;
	if (!init) {
		for (int i = 0; i < 16; i++)
			lim[i] = (struct linux_rlimit){RLIM_INFINITY, RLIM_INFINITY};
		lim[RLIMIT_STACK].rlim_cur = 8UL << 20;
		lim[RLIMIT_NOFILE] = (struct linux_rlimit){1024, 1024};
		init = true;
	}
	if (old)
		*old = lim[res];
	if (nl) {
		if (nl->rlim_cur > nl->rlim_max)
			return -EINVAL;
		lim[res] = *nl;
	}
	return 0;
}

static long sys_sysinfo(struct linux_sysinfo *si)
{
	k_memset(si, 0, sizeof(*si));
	si->uptime = (int64_t)(clock_monotonic_ns() / 1000000000);
	si->totalram = mem_total_bytes();
	si->freeram = mem_free_bytes();
	si->procs = 1;
	si->mem_unit = 1;
	return 0;
}

static long sys_sched_getaffinity(long pid, uint64_t size, uint8_t *mask)
{
	if (pid != 0 && pid != 1)
		return -ESRCH;
	if (size < 8)
		return -EINVAL;
	k_memset(mask, 0, 8);
	mask[0] = 1;
	return 8;
}

static long sys_prctl(long op, long a1)
{
	static char name[16] = "main";
	if (op == 15) { /* PR_SET_NAME */
		k_memcpy(name, (const char *)a1, 15);
		name[15] = 0;
		return 0;
	}
	if (op == 16) { /* PR_GET_NAME */
		k_memcpy((char *)a1, name, 16);
		return 0;
	}
	return -EINVAL;
}

static long sys_arch_prctl(long code, uint64_t addr)
{
	switch (code) {
	case ARCH_SET_FS:
		if (addr >= (1UL << 47))
			return -EPERM;
		thread_set_fs_base(addr);
		return 0;
	case ARCH_GET_FS:
		*(uint64_t *)addr = cpu_get_fs_base();
		return 0;
	case ARCH_SET_GS:
		if (addr >= (1UL << 47))
			return -EPERM;
		cpu_wrmsr(0xc0000102, addr); /* KERNEL_GS_BASE: what swapgs would hand to ring 3 */
		return 0;
	case ARCH_GET_GS:
		*(uint64_t *)addr = cpu_rdmsr(0xc0000102);
		return 0;
	default:
		return -EINVAL;
	}
}

/* --- dispatch --- */

static uint64_t reported[8];

static long unsupported(long nr)
{
	if (nr >= 0 && nr < 512 && !(reported[nr / 64] >> (nr % 64) & 1)) {
		reported[nr / 64] |= 1UL << (nr % 64);
		const char *name = syscall_names, *end = syscall_names + sizeof(syscall_names) - 1;
		for (long i = 0; i < nr && name < end; i++)
			name += k_strlen(name) + 1;
		if (name >= end || !*name)
			name = "unknown";
		kprintf(UNIK_UNSUPPORTED_PREFIX "%s (%ld)\n", name, nr);
	} else if (nr < 0 || nr >= 512) {
		kprintf(UNIK_UNSUPPORTED_PREFIX "unknown (%ld)\n", nr);
	}
	return -ENOSYS;
}

static syscall_fn syscall_table[SYSCALL_MAX];

/* The entries of every subsystem, in one array indexed by number; a number registered twice is
 * a mistake in the sources. */
static void syscall_table_init(void)
{
	for (const struct syscall_entry *e = __unik_syscall_start; e < __unik_syscall_end; e++) {
		if (e->nr >= SYSCALL_MAX || syscall_table[e->nr])
			panic("system call %u registered twice or out of range", e->nr);
		syscall_table[e->nr] = (syscall_fn)(uintptr_t)e->fn;
	}
}
UNIK_INIT(INIT_SYSCALLS, syscall_table_init);

static long dispatch(struct syscall_frame *f);

/* Every system call leaves through here: like Linux, a signal that became deliverable (sent
 * by this call, or sent while blocked and now unblocked) is acted on before the application
 * runs again (kernel/signal.c). */
long unik_syscall(struct syscall_frame *f)
{
	long r = dispatch(f);
	if (current->sigpending & ~current->sigmask)
		signal_syscall_exit(f, r);
	return r;
}

static long dispatch(struct syscall_frame *f)
{
	long nr = (long)f->nr, a0 = (long)f->rdi, a1 = (long)f->rsi, a2 = (long)f->rdx;
	long a3 = (long)f->r10, a4 = (long)f->r8, a5 = (long)f->r9;
	if (nr >= 0 && nr < SYSCALL_MAX && syscall_table[nr])
		return syscall_table[nr](f, a0, a1, a2, a3, a4, a5);
	return unsupported(nr);
}

/* --- the system calls of this file, for the table in sys/syscall.c --- */

SYSCALL(35)
{
	return sys_nanosleep(P(a0), P(a1));
}

SYSCALL(39)
{
	return 1; /* getpid */
}

/* fork */ /* vfork */ /* execve */
SYSCALL(57)
{
	/* One program per image: no other process to run, as under a process limit.
	 * Quietly, since callers (system(), posix_spawn) report the error themselves. */
	return -ENOSYS;
}
SYSCALL_ALIAS(58, 57);
SYSCALL_ALIAS(59, 57);

SYSCALL(61)
{
	return -ECHILD; /* wait4: there are never children */
}

SYSCALL(63)
{
	return sys_uname(P(a0));
}

SYSCALL(96)
{
	return sys_gettimeofday(P(a0), P(a1));
}

SYSCALL(97)
{
	return sys_prlimit64(0, a0, NULL, P(a1));
}

SYSCALL(98)
{
	return sys_getrusage(a0, P(a1));
}

SYSCALL(99)
{
	return sys_sysinfo(P(a0));
}

SYSCALL(100)
{
	return sys_times(P(a0));
}

SYSCALL(102)
{
	return 0; /* getuid getgid geteuid getegid: root */
}
SYSCALL_ALIAS(104, 102);
SYSCALL_ALIAS(107, 102);
SYSCALL_ALIAS(108, 102);

SYSCALL(105)
{
	return a0 == 0 ? 0 : -EPERM;
}
SYSCALL_ALIAS(106, 105);
SYSCALL_ALIAS(113, 105);
SYSCALL_ALIAS(114, 105);
SYSCALL_ALIAS(117, 105);
SYSCALL_ALIAS(119, 105);

SYSCALL(110)
{
	return 0; /* getppid: started by the hypervisor */
}

SYSCALL(111)
{
	return 1; /* getpgrp getpgid getsid */
}
SYSCALL_ALIAS(121, 111);
SYSCALL_ALIAS(124, 111);

SYSCALL(112)
{
	return -EPERM; /* setsid: already the session leader */
}

SYSCALL(115)
{
	return 0; /* getgroups: none */
}

/* getresuid, getresgid */
SYSCALL(118)
{
	*(uint32_t *)a0 = *(uint32_t *)a1 = *(uint32_t *)a2 = 0;
	return 0;
}
SYSCALL_ALIAS(120, 118);

SYSCALL(149)
{
	return 0; /* mlock family */
}
SYSCALL_ALIAS(150, 149);
SYSCALL_ALIAS(151, 149);
SYSCALL_ALIAS(152, 149);

SYSCALL(157)
{
	return sys_prctl(a0, a1);
}

SYSCALL(158)
{
	return sys_arch_prctl(a0, a1);
}

SYSCALL(160)
{
	return sys_prlimit64(0, a0, P(a1), NULL);
}

SYSCALL(170)
{
	return set_name(hostname, &hostname_set, P(a0), a1);
}

SYSCALL(171)
{
	return set_name(domainname, &domainname_set, P(a0), a1);
}

SYSCALL(201)
{
	return sys_time(P(a0));
}

SYSCALL(204)
{
	return sys_sched_getaffinity(a0, a1, P(a2));
}

SYSCALL(228)
{
	return sys_clock_gettime(a0, P(a1));
}

SYSCALL(229)
{
	return sys_clock_getres(a0, P(a1));
}

SYSCALL(230)
{
	return sys_clock_nanosleep(a0, a1, P(a2), P(a3));
}

SYSCALL(302)
{
	return sys_prlimit64(a0, a1, P(a2), P(a3));
}

SYSCALL(318)
{
	return sys_getrandom(P(a0), a1, a2);
}

SYSCALL(324)
{
	return 0; /* membarrier: one CPU */
}
