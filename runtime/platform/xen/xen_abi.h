/* The slice of Xen's guest ABI the runtime speaks under Xen PVH: hypercall and operation numbers,
 * the structures they take, and the pure pieces of the protocols (CPUID detection, console ring
 * indices).  Freestanding and host-clean, so tests/unit/test_xen_abi.c checks every number and
 * layout against Xen's own public headers. */
#ifndef UNIK_RT_XEN_ABI_H
#define UNIK_RT_XEN_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CPUID: Xen's leaves start at the first free 0x100 boundary from 0x40000000, which is
 * 0x40000100 when the Viridian (Hyper-V) interface occupies 0x40000000. */
#define UNIK_XEN_CPUID_FIRST     0x40000000u
#define UNIK_XEN_CPUID_STRIDE    0x100u
#define UNIK_XEN_SIG_EBX         0x566e6558u /* "XenV" */
#define UNIK_XEN_SIG_ECX         0x65584d4du /* "MMXe" */
#define UNIK_XEN_SIG_EDX         0x4d4d566eu /* "nVMM" */
#define UNIK_HYPERV_SIG_EBX      0x7263694du /* "Micr" */
#define UNIK_HYPERV_SIG_ECX      0x666f736fu /* "osof" */
#define UNIK_HYPERV_SIG_EDX      0x76482074u /* "t Hv" */
#define UNIK_XEN_CPUID_HYPERCALL 2 /* base + 2: eax = pages, ebx = the MSR taking the page */

/* Hypercalls: entry nr of the hypercall page sits at nr * 32; arguments in rdi, rsi, ... */
#define UNIK_XEN_HYPERCALL_SIZE 32
#define UNIK_XEN_HC_MEMORY_OP   12
#define UNIK_XEN_HC_SCHED_OP    29
#define UNIK_XEN_HC_EVTCHN_OP   32
#define UNIK_XEN_HC_HVM_OP      34

#define UNIK_XEN_DOMID_SELF 0x7ff0u

/* sched_op */
#define UNIK_XEN_SCHEDOP_YIELD         0
#define UNIK_XEN_SCHEDOP_SHUTDOWN      2
#define UNIK_XEN_SCHEDOP_SHUTDOWN_CODE 5
#define UNIK_XEN_SHUTDOWN_POWEROFF     0
#define UNIK_XEN_SHUTDOWN_CRASH        3
struct unik_xen_sched_shutdown {
	uint32_t reason;
};

/* event_channel_op */
#define UNIK_XEN_EVTCHNOP_SEND 4
struct unik_xen_evtchn_send {
	uint32_t port;
};

/* hvm_op */
#define UNIK_XEN_HVMOP_GET_PARAM          1
#define UNIK_XEN_HVM_PARAM_CONSOLE_PFN    17
#define UNIK_XEN_HVM_PARAM_CONSOLE_EVTCHN 18
struct unik_xen_hvm_param {
	uint16_t domid, pad;
	uint32_t index;
	uint64_t value;
};

/* memory_op */
#define UNIK_XEN_XENMEM_ADD_TO_PHYSMAP   7
#define UNIK_XEN_XENMEM_MEMORY_MAP       9
#define UNIK_XEN_XENMAPSPACE_SHARED_INFO 0
struct unik_xen_add_to_physmap {
	uint16_t domid, size;
	uint32_t space;
	uint64_t idx, gpfn;
};
struct unik_xen_memory_map {
	uint32_t nr_entries;
	uint64_t buffer; /* guest address of an array of unik_xen_e820 */
};
struct unik_xen_e820 {
	uint64_t addr, size;
	uint32_t type;
} __attribute__((packed));

/* The PV console's shared page. */
#define UNIK_XEN_CONS_IN_SIZE  1024u
#define UNIK_XEN_CONS_OUT_SIZE 2048u
struct unik_xen_cons {
	char in[UNIK_XEN_CONS_IN_SIZE];
	char out[UNIK_XEN_CONS_OUT_SIZE];
	uint32_t in_cons, in_prod;
	uint32_t out_cons, out_prod;
};

/* Time: vcpu_time_info has KVM's pvclock layout (KVM copied it). */
struct unik_xen_vcpu_time_info {
	uint32_t version, pad0;
	uint64_t tsc_timestamp, system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags, pad1[2];
};
struct unik_xen_vcpu_info {
	uint8_t evtchn_upcall_pending, evtchn_upcall_mask;
	uint64_t evtchn_pending_sel;
	uint64_t arch_cr2, arch_pad;
	struct unik_xen_vcpu_time_info time;
};
#define UNIK_XEN_LEGACY_MAX_VCPUS 32
/* The leading part of shared_info the runtime reads; the page holds more. */
struct unik_xen_shared_info {
	struct unik_xen_vcpu_info vcpu_info[UNIK_XEN_LEGACY_MAX_VCPUS];
	uint64_t evtchn_pending[64];
	uint64_t evtchn_mask[64];
	uint32_t wc_version, wc_sec, wc_nsec, wc_sec_hi;
};

/* PVH boot: what ebx points at on entry (version 1 added the memory map). */
#define UNIK_XEN_START_MAGIC 0x336ec578u
struct unik_xen_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct unik_xen_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};
struct unik_xen_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

/* --- pure pieces --- */

typedef void (*unik_xen_cpuid_fn)(void *ctx, uint32_t leaf, uint32_t r[4]);

static inline bool unik_xen_sig_is(const uint32_t r[4], uint32_t b, uint32_t c, uint32_t d)
{
	return r[1] == b && r[2] == c && r[3] == d;
}

/* Xen's first CPUID leaf, or 0 when not under Xen.  One CPUID where 0x40000000 holds anything
 * but Viridian (KVM, TCG, bare metal); a second one only behind Viridian.  Linux scans all 256
 * slots, but Xen only ever uses the first two, and every CPUID is a VM exit. */
static inline uint32_t unik_xen_cpuid_base(unik_xen_cpuid_fn cpuid, void *ctx)
{
	uint32_t r[4];
	for (uint32_t base = UNIK_XEN_CPUID_FIRST;
	     base <= UNIK_XEN_CPUID_FIRST + UNIK_XEN_CPUID_STRIDE; base += UNIK_XEN_CPUID_STRIDE) {
		cpuid(ctx, base, r);
		if (unik_xen_sig_is(r, UNIK_XEN_SIG_EBX, UNIK_XEN_SIG_ECX, UNIK_XEN_SIG_EDX))
			return r[0] >= base + UNIK_XEN_CPUID_HYPERCALL ? base : 0;
		if (!unik_xen_sig_is(r, UNIK_HYPERV_SIG_EBX, UNIK_HYPERV_SIG_ECX,
		                     UNIK_HYPERV_SIG_EDX))
			return 0;
	}
	return 0;
}

/* Producer side of a console ring of `size` bytes (a power of two): copies what fits of buf
 * after *prod, advances *prod and returns how many bytes went in.  Indices run freely and wrap
 * at 2^32; only their difference and their low bits (the mask) matter.  Indices further apart
 * than the ring (a corrupt consumer) take nothing. */
static inline size_t unik_xen_ring_put(char *ring, uint32_t size, uint32_t cons, uint32_t *prod,
                                       const char *buf, size_t len)
{
	uint32_t p = *prod, used = p - cons;
	if (used > size)
		return 0;
	size_t n = size - used < len ? size - used : len;
	for (size_t i = 0; i < n; i++)
		ring[(p + (uint32_t)i) & (size - 1)] = buf[i];
	*prod = p + (uint32_t)n;
	return n;
}

/* Consumer side: copies up to len bytes from *cons to prod into buf and advances *cons. */
static inline size_t unik_xen_ring_get(const char *ring, uint32_t size, uint32_t *cons,
                                       uint32_t prod, char *buf, size_t len)
{
	uint32_t c = *cons, avail = prod - c;
	if (avail > size)
		return 0;
	size_t n = avail < len ? avail : len;
	for (size_t i = 0; i < n; i++)
		buf[i] = ring[(c + (uint32_t)i) & (size - 1)];
	*cons = c + (uint32_t)n;
	return n;
}

/* How an exit is reported to Xen (docs/guest-abi.md, "Xen PVH"): the status itself travels on
 * the console line, since Xen reads a shutdown code as a reason (1 would mean reboot). */
static inline uint32_t unik_xen_shutdown_reason(bool crashed)
{
	return crashed ? UNIK_XEN_SHUTDOWN_CRASH : UNIK_XEN_SHUTDOWN_POWEROFF;
}

/* Xen's wall clock (the time at which system_time was 0) in nanoseconds. */
static inline int64_t unik_xen_wall_ns(uint32_t sec, uint32_t sec_hi, uint32_t nsec)
{
	return (int64_t)(((uint64_t)sec_hi << 32 | sec) * 1000000000ull + nsec);
}

#endif
