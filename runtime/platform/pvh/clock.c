/* Time: a monotonic clock from the TSC (scaled by KVM's or Xen's pvclock when the hypervisor
 * offers one, else calibrated against the PIT on first use), wall time from pvclock or the CMOS
 * clock, and sleeping that halts the CPU until the local APIC timer fires. */
#include "kernel/kernel.h"
#include "platform/xen/xen.h"

struct pvclock_vcpu_time_info {
	uint32_t version, pad0;
	uint64_t tsc_timestamp, system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags, pad[2];
} __attribute__((packed));

struct pvclock_wall_clock {
	uint32_t version, sec, nsec;
} __attribute__((packed));

#define MSR_KVM_WALL_CLOCK_NEW   0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW  0x4b564d01
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)

#define LAPIC_EOI        0xb0
#define LAPIC_SVR        0xf0
#define LAPIC_LVT_TIMER  0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR  0x390
#define LAPIC_TIMER_DIV  0x3e0
#define TIMER_VECTOR     0x20

static struct pvclock_vcpu_time_info kvm_pvti __attribute__((aligned(64)));
/* KVM's copy above, or vCPU 0's in Xen's shared info page: the same layout. */
static const struct pvclock_vcpu_time_info *pvti = &kvm_pvti;
static struct pvclock_wall_clock pvwall __attribute__((aligned(16)));
static bool use_pvclock;
static uint64_t tsc_base, tsc_mult; /* ns = (tsc - tsc_base) * tsc_mult >> 32 */
static bool tsc_calibrated;
static int64_t wall_base_ns = -1; /* realtime = wall_base_ns + monotonic */
static uint64_t lapic_hz;
static bool lapic_ready;

static volatile uint32_t *lapic(uint32_t reg)
{
	return (volatile uint32_t *)(lapic_base + reg);
}

static uint64_t scale(uint64_t delta, uint64_t mult, int shift)
{
	return (uint64_t)(((unsigned __int128)delta * mult) >> shift);
}

static bool kvm_clock_available(void)
{
	uint32_t r[4];
	cpuid(0x40000000, 0, r);
	if (r[1] != 0x4b4d564b || r[2] != 0x564b4d56 || r[3] != 0x4d) /* "KVMKVMKVM\0\0\0" */
		return false;
	cpuid(0x40000001, 0, r);
	return r[0] & KVM_FEATURE_CLOCKSOURCE2;
}

static uint64_t pvclock_ns(void)
{
	uint32_t v;
	uint64_t ns;
	do {
		v = __atomic_load_n(&pvti->version, __ATOMIC_ACQUIRE);
		uint64_t delta = rdtsc() - pvti->tsc_timestamp;
		if (pvti->tsc_shift >= 0)
			delta <<= pvti->tsc_shift;
		else
			delta >>= -pvti->tsc_shift;
		ns = pvti->system_time + scale(delta, pvti->tsc_to_system_mul, 32);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((v & 1) || v != __atomic_load_n(&pvti->version, __ATOMIC_ACQUIRE));
	return ns;
}

/* PIT channel 0 counts down from 65536 at 1.193182 MHz; latch and read it while watching the
 * TSC for 10 ms.  Port 0x61 gating (channel 2) is absent on microvm, so channel 0 is used with
 * its interrupt masked at the PIC. */
static uint16_t pit_read(void)
{
	outb(0x43, 0x00);
	uint8_t lo = inb(0x40), hi = inb(0x40);
	return (uint16_t)(hi << 8 | lo);
}

static uint64_t calibrate_tsc_hz(void)
{
	outb(0x43, 0x34); /* channel 0, lo/hi, mode 2 */
	outb(0x40, 0);
	outb(0x40, 0);
	uint16_t prev = pit_read();
	uint64_t ticks = 0, spins = 0;
	/* Start on a tick edge so the measurement is not off by a partial tick. */
	while (pit_read() == prev && ++spins < 1000000)
		;
	prev = pit_read();
	uint64_t t0 = rdtsc();
	int restarts = 0;
	while (ticks < 11932) {
		uint16_t now = pit_read();
		uint16_t step = (uint16_t)(prev - now);
		prev = now;
		/* Two reads a few microseconds apart never see thousands of ticks pass.  When they
		 * do, the host stopped the vCPU between them (long enough for the counter to wrap,
		 * and then ticks go missing) or a read was torn: either would skew the rate by up
		 * to a factor of several, so the window starts again. */
		if (step > 2048 && restarts < 8) {
			restarts++;
			ticks = 0;
			t0 = rdtsc();
			continue;
		}
		ticks += step;
		if (++spins > 50000000)
			break;
	}
	uint64_t t1 = rdtsc();
	if (ticks < 11932) {
		/* No PIT: fall back on what the CPU says its base frequency is. */
		uint32_t r[4];
		cpuid(0, 0, r);
		if (r[0] >= 0x16) {
			cpuid(0x16, 0, r);
			if (r[0])
				return (uint64_t)r[0] * 1000000;
		}
		kprintf(UNIK_CONSOLE_PREFIX "clock: no PIT to calibrate the TSC; assuming 2 GHz\n");
		return 2000000000;
	}
	return (t1 - t0) * 1193182 / ticks;
}

static uint64_t calibrate_r0(uint64_t u0, uint64_t u1, uint64_t u2)
{
	(void)u0, (void)u1, (void)u2;
	return calibrate_tsc_hz();
}

static void tsc_calibrate(void)
{
	if (tsc_calibrated)
		return;
	uint64_t hz = ring0(calibrate_r0, 0, 0, 0);
	tsc_mult = ((uint64_t)1000000000 << 32) / hz;
	tsc_calibrated = true;
}

static uint64_t mono_ns(void)
{
	return use_pvclock ? pvclock_ns() : scale(rdtsc() - tsc_base, tsc_mult, 32);
}

uint64_t clock_monotonic_ns(void)
{
	if (!use_pvclock)
		tsc_calibrate();
	return mono_ns();
}

static uint8_t cmos(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static unsigned bcd(uint8_t v, bool binary)
{
	return binary ? v : (v & 15) + (v >> 4) * 10;
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int64_t rtc_read_ns(void)
{
	uint8_t v[7], w[7];
	int tries = 0;
	do {
		for (int spin = 0; (cmos(0x0a) & 0x80) && spin < 100000; spin++)
			;
		static const uint8_t regs[7] = {0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32};
		for (int i = 0; i < 7; i++)
			v[i] = cmos(regs[i]);
		for (int i = 0; i < 7; i++)
			w[i] = cmos(regs[i]);
	} while (k_memcmp(v, w, sizeof(v)) && ++tries < 5);
	if (v[0] == 0xff && v[1] == 0xff)
		return -1; /* no RTC */
	uint8_t b = cmos(0x0b);
	bool binary = b & 0x04, h24 = b & 0x02;
	unsigned hour = bcd(v[2] & 0x7f, binary);
	if (!h24 && (v[2] & 0x80))
		hour = (hour % 12) + 12;
	unsigned year = bcd(v[5], binary);
	unsigned century = v[6] ? bcd(v[6], binary) : 20;
	if (century < 19 || century > 30)
		century = 20;
	int64_t days =
	    days_from_civil((int64_t)century * 100 + year, bcd(v[4], binary), bcd(v[3], binary));
	int64_t secs = days * 86400 + hour * 3600 + bcd(v[1], binary) * 60 + bcd(v[0], binary);
	return secs * 1000000000LL;
}

static uint64_t rtc_r0(uint64_t u0, uint64_t u1, uint64_t u2)
{
	(void)u0, (void)u1, (void)u2;
	return (uint64_t)rtc_read_ns();
}

void clock_init(void)
{
	tsc_base = rdtsc();
	if (kvm_clock_available()) {
		cpu_wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uint64_t)&kvm_pvti | 1);
		cpu_wrmsr(MSR_KVM_WALL_CLOCK_NEW, (uint64_t)&pvwall);
		use_pvclock = true;
		/* The wall clock KVM reports is the time at which system_time was zero. */
		wall_base_ns = (int64_t)pvwall.sec * 1000000000LL + pvwall.nsec;
		return;
	}
	/* Xen PVH has neither PIT nor CMOS clock; its shared info page holds both clocks, with
	 * the wall clock likewise the time at which system_time was zero. */
	const void *xt = xen_clock(&wall_base_ns);
	if (xt) {
		pvti = xt;
		use_pvclock = true;
	}
}
UNIK_INIT(INIT_CLOCK, clock_init);

uint64_t clock_realtime_ns(void)
{
	if (wall_base_ns < 0) {
		int64_t rtc = (int64_t)ring0(rtc_r0, 0, 0, 0);
		uint64_t mono = clock_monotonic_ns();
		wall_base_ns = rtc < 0 ? 0 : rtc - (int64_t)mono;
	}
	return (uint64_t)(wall_base_ns + (int64_t)clock_monotonic_ns());
}

/* The local APIC timer's rate is measured once against the monotonic clock, on first sleep. */
static void lapic_timer_init(void)
{
	if (lapic_ready)
		return;
	*lapic(LAPIC_SVR) = 0x1ff;          /* enabled, spurious vector 0xff */
	*lapic(LAPIC_TIMER_DIV) = 0xb;      /* divide by 1 */
	*lapic(LAPIC_LVT_TIMER) = 1u << 16; /* masked while measuring */
	*lapic(LAPIC_TIMER_INIT) = 0xffffffff;
	uint64_t t0 = clock_monotonic_ns();
	uint32_t c0 = *lapic(LAPIC_TIMER_CUR);
	while (clock_monotonic_ns() - t0 < 2000000)
		cpu_relax();
	uint32_t c1 = *lapic(LAPIC_TIMER_CUR);
	uint64_t t1 = clock_monotonic_ns();
	*lapic(LAPIC_TIMER_INIT) = 0;
	lapic_hz = (uint64_t)(c0 - c1) * 1000000000 / (t1 - t0);
	if (!lapic_hz)
		lapic_hz = 1000000000;
	*lapic(LAPIC_LVT_TIMER) = TIMER_VECTOR; /* one-shot */
	lapic_ready = true;
}

void clock_timer_irq(void)
{
	*lapic(LAPIC_EOI) = 0;
}

/* Program the one-shot timer for ns from now (0: stop it).  Ring 0. */
static uint64_t timer_r0(uint64_t ns, uint64_t u1, uint64_t u2)
{
	(void)u1, (void)u2;
	lapic_timer_init();
	uint64_t ticks = 0;
	if (ns) {
		if (ns > 1000000000)
			ns = 1000000000; /* the scheduler re-arms; keeps ns * lapic_hz in 64 bits */
		ticks = MAX(ns * lapic_hz / 1000000000, 1UL);
		ticks = MIN(ticks, 0xffffffffUL);
	}
	*lapic(LAPIC_TIMER_INIT) = (uint32_t)ticks;
	return 0;
}

void clock_timer_at(uint64_t deadline_ns)
{
	uint64_t ns = 0;
	if (deadline_ns) {
		uint64_t now = clock_monotonic_ns();
		ns = deadline_ns > now ? deadline_ns - now : 1;
	}
	ring0(timer_r0, ns, 0, 0);
}

static uint64_t halt_r0(uint64_t u0, uint64_t u1, uint64_t u2)
{
	(void)u0, (void)u1, (void)u2;
	/* sti's one-instruction shadow makes "sti; hlt" race-free against the interrupt. */
	__asm__ volatile("sti; hlt; cli" ::: "memory");
	return 0;
}

void clock_halt(void)
{
	ring0(halt_r0, 0, 0, 0);
}

/* --- the vDSO: clock_gettime without entering the kernel --- */

/* Runs in ring 3, called by musl's clock_gettime (and so gettimeofday and time).  It only reads
 * what the kernel has already set up; anything else (-ENOSYS) falls back to the system call,
 * which calibrates the TSC or reads the CMOS clock on first use. */
static int vdso_clock_gettime(int clk, struct linux_timespec *ts)
{
	if (!use_pvclock && !tsc_calibrated)
		return -ENOSYS;
	uint64_t ns = mono_ns();
	switch (clk) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case 11: /* CLOCK_TAI */
		if (wall_base_ns < 0)
			return -ENOSYS;
		ns += (uint64_t)wall_base_ns;
		break;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
		break;
	default:
		return -ENOSYS;
	}
	ts->tv_sec = (int64_t)(ns / 1000000000);
	ts->tv_nsec = (int64_t)(ns % 1000000000);
	return 0;
}

/* The smallest ELF image musl's __vdsosym accepts: a PT_LOAD at 0, a PT_DYNAMIC with a hash
 * table, a symbol table and strings, and one symbol. */
static const char vdso_strings[] = "\0__vdso_clock_gettime";
static struct {
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff, shoff;
	uint32_t flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
	struct linux_phdr ph[2];
	uint64_t dyn[8];
	uint32_t hash[5];
	struct {
		uint32_t name;
		uint8_t info, other;
		uint16_t shndx;
		uint64_t value, size;
	} sym[2];
	char strings[sizeof(vdso_strings)];
} vdso __attribute__((aligned(16)));

uint64_t clock_vdso(void)
{
	if (vdso.ident[0])
		return (uint64_t)&vdso;
	uint64_t base = (uint64_t)&vdso;
	k_memcpy(vdso.ident, "\177ELF\2\1\1", 7);
	vdso.type = 3; /* ET_DYN */
	vdso.machine = 62;
	vdso.version = 1;
	vdso.phoff = (uint64_t)&vdso.ph - base;
	vdso.ehsize = 64;
	vdso.phentsize = sizeof(struct linux_phdr);
	vdso.phnum = 2;
	vdso.ph[0] = (struct linux_phdr){.p_type = 1, .p_flags = 5, .p_memsz = sizeof(vdso)};
	vdso.ph[1] = (struct linux_phdr){.p_type = 2,
	                                 .p_flags = 4,
	                                 .p_offset = (uint64_t)&vdso.dyn - base,
	                                 .p_vaddr = (uint64_t)&vdso.dyn - base};
	vdso.dyn[0] = 4, vdso.dyn[1] = (uint64_t)&vdso.hash - base;    /* DT_HASH */
	vdso.dyn[2] = 5, vdso.dyn[3] = (uint64_t)&vdso.strings - base; /* DT_STRTAB */
	vdso.dyn[4] = 6, vdso.dyn[5] = (uint64_t)&vdso.sym - base;     /* DT_SYMTAB */
	vdso.hash[0] = 1, vdso.hash[1] = 2, vdso.hash[2] = 1;          /* one bucket, two symbols */
	vdso.sym[1].name = 1;
	vdso.sym[1].info = 0x12; /* global function */
	vdso.sym[1].shndx = 1;
	vdso.sym[1].value = (uint64_t)&vdso_clock_gettime - base;
	k_memcpy(vdso.strings, vdso_strings, sizeof(vdso_strings));
	return base;
}
