/* Xen PVH: detection through CPUID, hypercalls through the hypercall page (from ring 0, via
 * ring0(), since Xen refuses them from ring 3), the PV console ring, shutdown, and Xen's clock
 * and memory map.  Xen PVH has no UART, PIT or CMOS clock, so these replace them there. */
#include "kernel/kernel.h"
#include "platform/xen/xen.h"

/* The console page may lie outside RAM (Xen puts it among the "special pages" just below
 * 4 GiB), so it gets a mapping of its own here, in a top-level slot nothing else uses, built
 * from static tables before page.c maps all of RAM. */
#define XEN_CONS_VA 0x00007f0000000000UL
#define PTE_PWU     0x7UL

/* A console nobody drains for this many TSC cycles (about a second) is given up on rather
 * than hanging the guest. */
#define XEN_CONS_PATIENCE (1ULL << 32)

extern uint64_t boot_pml4[512];

/* Xen writes the hypercall code here: kernel/page.c maps the page executable, not writable. */
static uint8_t hypercall_page[PAGE_SIZE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.unik_exec")));
static uint64_t map_pdpt[512] __attribute__((aligned(PAGE_SIZE)));
static uint64_t map_pd[512] __attribute__((aligned(PAGE_SIZE)));
static uint64_t map_pt[512] __attribute__((aligned(PAGE_SIZE)));

static bool xen;
static struct unik_xen_cons *cons;
static uint32_t cons_port;
static bool cons_stalled;

static void cpuid_native(void *ctx, uint32_t leaf, uint32_t r[4])
{
	(void)ctx;
	cpuid(leaf, 0, r);
}

/* Xen may clobber the argument registers (debug builds do, on purpose). */
static uint64_t hypercall_r0(uint64_t nr, uint64_t a1, uint64_t a2)
{
	uint64_t ret;
	__asm__ volatile("call *%[fn]"
	                 : "=a"(ret), "+D"(a1), "+S"(a2)
	                 : [fn] "r"(hypercall_page + nr * UNIK_XEN_HYPERCALL_SIZE)
	                 : "rdx", "r10", "r8", "memory", "cc");
	return ret;
}

static long hypercall(unsigned nr, uint64_t cmd, void *arg)
{
	return (long)ring0(hypercall_r0, nr, cmd, (uint64_t)arg);
}

static bool hvm_param(uint32_t index, uint64_t *value)
{
	struct unik_xen_hvm_param p = {.domid = UNIK_XEN_DOMID_SELF, .index = index};
	if (hypercall(UNIK_XEN_HC_HVM_OP, UNIK_XEN_HVMOP_GET_PARAM, &p) < 0)
		return false;
	*value = p.value;
	return true;
}

bool xen_console_init(void)
{
	uint32_t base = unik_xen_cpuid_base(cpuid_native, NULL);
	if (!base)
		return false;
	uint32_t r[4];
	cpuid(base + UNIK_XEN_CPUID_HYPERCALL, 0, r);
	if (!r[0])
		return false;
	cpu_wrmsr(r[1], (uint64_t)hypercall_page);
	/* Xen fills the page while handling the write; an empty page means it did not. */
	if (!*(volatile uint8_t *)hypercall_page)
		return false;
	xen = true;
	uint64_t pfn, port;
	if (!hvm_param(UNIK_XEN_HVM_PARAM_CONSOLE_PFN, &pfn) || !pfn ||
	    !hvm_param(UNIK_XEN_HVM_PARAM_CONSOLE_EVTCHN, &port))
		return false;
	/* Entries that were not present: no TLB flush needed. */
	boot_pml4[(XEN_CONS_VA >> 39) & 511] = (uint64_t)map_pdpt | PTE_PWU;
	map_pdpt[(XEN_CONS_VA >> 30) & 511] = (uint64_t)map_pd | PTE_PWU;
	map_pd[(XEN_CONS_VA >> 21) & 511] = (uint64_t)map_pt | PTE_PWU;
	map_pt[(XEN_CONS_VA >> 12) & 511] = pfn << 12 | PTE_PWU;
	cons = (struct unik_xen_cons *)XEN_CONS_VA;
	cons_port = (uint32_t)port;
	return true;
}

static void notify(void)
{
	struct unik_xen_evtchn_send s = {cons_port};
	hypercall(UNIK_XEN_HC_EVTCHN_OP, UNIK_XEN_EVTCHNOP_SEND, &s);
}

/* Yields to Xen until the console daemon moves out_cons past `seen` (true) or until it has
 * made no progress for XEN_CONS_PATIENCE cycles (false). */
static bool wait_consumed(uint32_t seen)
{
	uint64_t t0 = rdtsc();
	while (__atomic_load_n(&cons->out_cons, __ATOMIC_ACQUIRE) == seen) {
		if (rdtsc() - t0 > XEN_CONS_PATIENCE)
			return false;
		hypercall(UNIK_XEN_HC_SCHED_OP, UNIK_XEN_SCHEDOP_YIELD, NULL);
	}
	return true;
}

static uint64_t cons_write_r0(uint64_t b, uint64_t l, uint64_t unused)
{
	const char *buf = (const char *)b;
	size_t len = l;
	(void)unused;
	while (len) {
		uint32_t c = __atomic_load_n(&cons->out_cons, __ATOMIC_ACQUIRE);
		uint32_t p = cons->out_prod;
		size_t n = unik_xen_ring_put(cons->out, UNIK_XEN_CONS_OUT_SIZE, c, &p, buf, len);
		if (n) {
			/* The bytes must be visible before the index that publishes them. */
			__atomic_store_n(&cons->out_prod, p, __ATOMIC_RELEASE);
			notify();
			buf += n;
			len -= n;
			cons_stalled = false;
			continue;
		}
		/* Full: wait for the daemon, unless it already stopped draining. */
		if (cons_stalled || !wait_consumed(c)) {
			cons_stalled = true;
			break;
		}
	}
	return 0;
}

void xen_console_write(const char *buf, size_t len)
{
	if (cons && len)
		ring0(cons_write_r0, (uint64_t)buf, len, 0);
}

bool xen_console_readable(void)
{
	return cons && __atomic_load_n(&cons->in_prod, __ATOMIC_ACQUIRE) != cons->in_cons;
}

size_t xen_console_read(char *buf, size_t len)
{
	if (!cons || !len)
		return 0;
	uint32_t c = cons->in_cons, p = __atomic_load_n(&cons->in_prod, __ATOMIC_ACQUIRE);
	size_t n = unik_xen_ring_get(cons->in, UNIK_XEN_CONS_IN_SIZE, &c, p, buf, len);
	if (n) {
		/* The bytes are copied out before the space is handed back. */
		__atomic_store_n(&cons->in_cons, c, __ATOMIC_RELEASE);
		notify();
	}
	return n;
}

void xen_shutdown(bool crashed)
{
	if (!xen)
		return;
	/* The daemon reads the ring asynchronously: let it take the exit line first. */
	if (cons && !cons_stalled) {
		uint32_t c;
		while ((c = __atomic_load_n(&cons->out_cons, __ATOMIC_ACQUIRE)) !=
		       __atomic_load_n(&cons->out_prod, __ATOMIC_ACQUIRE))
			if (!wait_consumed(c))
				break;
	}
	/* Latch the reason first: should the shutdown itself fail, the triple fault that follows
	 * (which Xen would report as a reboot) reports it instead. */
	struct unik_xen_sched_shutdown s = {unik_xen_shutdown_reason(crashed)};
	hypercall(UNIK_XEN_HC_SCHED_OP, UNIK_XEN_SCHEDOP_SHUTDOWN_CODE, &s);
	hypercall(UNIK_XEN_HC_SCHED_OP, UNIK_XEN_SCHEDOP_SHUTDOWN, &s);
}

const void *xen_clock(int64_t *wall_ns)
{
	if (!xen)
		return NULL;
	/* Any page of RAM will do: Xen puts the shared info page in its place, for good. */
	uint64_t page = pages_alloc(1);
	if (!page)
		return NULL;
	struct unik_xen_add_to_physmap a = {
	    .domid = UNIK_XEN_DOMID_SELF,
	    .space = UNIK_XEN_XENMAPSPACE_SHARED_INFO,
	    .idx = 0,
	    .gpfn = page >> 12,
	};
	if (hypercall(UNIK_XEN_HC_MEMORY_OP, UNIK_XEN_XENMEM_ADD_TO_PHYSMAP, &a) < 0) {
		pages_free(page, 1);
		return NULL;
	}
	const struct unik_xen_shared_info *s = (const void *)page;
	uint32_t v, sec, hi, nsec;
	do {
		v = __atomic_load_n(&s->wc_version, __ATOMIC_ACQUIRE);
		sec = s->wc_sec;
		hi = s->wc_sec_hi;
		nsec = s->wc_nsec;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((v & 1) || v != __atomic_load_n(&s->wc_version, __ATOMIC_ACQUIRE));
	*wall_ns = unik_xen_wall_ns(sec, hi, nsec);
	return &s->vcpu_info[0].time;
}

int xen_memory_map(struct unik_xen_e820 *buf, int max)
{
	if (!xen || max <= 0)
		return 0;
	struct unik_xen_memory_map m = {(uint32_t)max, (uint64_t)buf};
	if (hypercall(UNIK_XEN_HC_MEMORY_OP, UNIK_XEN_XENMEM_MEMORY_MAP, &m) < 0)
		return 0;
	return (int)MIN(m.nr_entries, (uint32_t)max);
}
